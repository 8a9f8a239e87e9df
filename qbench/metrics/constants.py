"""Numbers that define the full-reference protocols, shared by the float64 functional code (torch)
and the CPU kernels (numpy), importable without torch."""

from __future__ import annotations

#: MATLAB ``rgb2ycbcr`` luma weights on [0, 255] RGB (BT.601, Y in 16..235)
BT601_Y = (65.481, 128.553, 24.966)
#: PSNR-B's coding block size
PSNRB_BLOCK = 8
#: MS-SSIM's scale weights (Wang et al. 2003, as pytorch_msssim)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
