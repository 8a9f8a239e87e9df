"""Named metric protocols. Each name states what is measured; see the README's metric table."""

from __future__ import annotations

from typing import Any

#: name -> preset (data). ``type`` selects the implementation.
PRESETS: dict[str, dict[str, Any]] = {
    "psnr_rgb": {"type": "psnr", "channels": "rgb", "unit": "dB", "higher_is_better": True,
                 "description": "PSNR over all RGB channels (mean of per-image values), data range 255"},
    "psnr_y": {"type": "psnr", "channels": "y", "unit": "dB", "higher_is_better": True,
               "description": "PSNR on BT.601 Y (MATLAB rgb2ycbcr, 16-235, float), as BasicSR/IRN/SAIN"},
    "psnrb_y": {"type": "psnrb", "channels": "y", "unit": "dB", "higher_is_better": True,
                "description": "PSNR-B (Yim & Bovik 2011, 8x8 blocking effect factor of the output) on BT.601 Y"},
    "ssim_rgb": {"type": "ssim", "channels": "rgb", "higher_is_better": True,
                 "description": "SSIM (Gaussian 11x11, sigma 1.5, valid) per RGB channel, averaged"},
    "ssim_y": {"type": "ssim", "channels": "y", "higher_is_better": True,
               "description": "SSIM (Gaussian 11x11, sigma 1.5, valid, MATLAB constants) on BT.601 Y"},
    "ms_ssim_rgb": {"type": "ms_ssim", "channels": "rgb", "higher_is_better": True,
                    "description": "MS-SSIM (5 scales, pytorch_msssim/CompressAI protocol) on RGB, data range 255"},
    "ms_ssim_y": {"type": "ms_ssim", "channels": "y", "higher_is_better": True,
                  "description": "MS-SSIM (5 scales) on BT.601 Y"},
}

#: SR-table protocol (BasicSR/IRN/SAIN): Y as MATLAB rgb2ycbcr, ``crop_border = scale`` pixels cut
#: from each side before measuring, e.g. ``psnr_y_crop4`` for x4 tables
for _s in (2, 3, 4):
    PRESETS[f"psnr_y_crop{_s}"] = {**PRESETS["psnr_y"], "crop_border": _s,
                                   "description": f"psnr_y with {_s} border pixels cropped on each side (x{_s} SR tables)"}
    PRESETS[f"ssim_y_crop{_s}"] = {**PRESETS["ssim_y"], "crop_border": _s,
                                   "description": f"ssim_y with {_s} border pixels cropped on each side (x{_s} SR tables)"}

#: presets computed by pyiqa (see qbench.metrics.pyiqa_metrics for exactly what each computes)
PYIQA_PRESETS: dict[str, dict[str, Any]] = {
    "fsim": {"type": "fsim", "higher_is_better": True, "description": "FSIMc via pyiqa (RGB)"},
    "vif": {"type": "vif", "higher_is_better": True, "description": "VIF (steerable-pyramid, vifvec) on YIQ luma via pyiqa"},
    "gmsd": {"type": "gmsd", "higher_is_better": False, "description": "GMSD via pyiqa (YIQ luma)"},
    "lpips": {"type": "lpips", "higher_is_better": False,
              "description": "LPIPS v0.1 AlexNet via pyiqa, inputs scaled to [-1, 1]"},
    "dists": {"type": "dists", "higher_is_better": False, "description": "DISTS (VGG16) via pyiqa"},
}

#: distribution metrics over whole image sets (see qbench.metrics.distribution)
DISTRIBUTION_PRESETS: dict[str, dict[str, Any]] = {
    "fid": {"type": "fid", "patch": 0, "higher_is_better": False,
            "description": "FID, clean-fid clean mode, full images"},
    "kid": {"type": "kid", "patch": 0, "higher_is_better": False,
            "description": "KID (unbiased MMD^2, cubic kernel), clean-fid features, full images"},
    "fid_patch256": {"type": "fid", "patch": 256, "higher_is_better": False,
                     "description": "FID on non-overlapping 256x256 patches"},
    "kid_patch256": {"type": "kid", "patch": 256, "higher_is_better": False,
                     "description": "KID on non-overlapping 256x256 patches"},
}


#: no-reference metrics, measured on every image role (see qbench.metrics.noref)
NOREF_PRESETS: dict[str, dict[str, Any]] = {
    "bef_y": {"type": "bef", "channels": "y", "higher_is_better": False,
              "description": "blocking effect factor (Yim & Bovik 2011, the BEF of PSNR-B) of the image on BT.601 Y"},
}

#: GAN-discriminator probes, no-reference (see qbench.metrics.discriminator)
DISCRIMINATOR_PRESETS: dict[str, dict[str, Any]] = {
    "disc_realesrgan": {"type": "discriminator", "arch": "unet_sn", "weights": "realesrgan_x4plus_netd",
                        "higher_is_better": True,
                        "description": "mean sigmoid score of Real-ESRGAN's x4plus U-Net discriminator (SN) on RGB "
                                       "in [0, 1] (compression-bias probe; higher = judged more real)"},
}
