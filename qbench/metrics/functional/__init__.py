"""Pure metric functions on float64 tensors ``(N, C, H, W)`` with values in [0, 255]."""

from .color import crop, rgb_to_y
from .psnr import psnr
from .psnrb import psnrb
from .ssim import ms_ssim, ssim

__all__ = ["crop", "rgb_to_y", "psnr", "psnrb", "ssim", "ms_ssim"]
