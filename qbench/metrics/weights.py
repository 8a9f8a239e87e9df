"""Weight files of the learned metrics, registered in the shared catalogue (``qbench weights``).

Where a full sha256 is not published, files are pinned by the sha256 prefix in their release name.
"""

from __future__ import annotations

from ..weights import WeightFile, register

HF = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main"

ALEXNET = register("backbone/alexnet", WeightFile(
    "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    sha256_prefix="7be5be79", root="torch_hub", description="torchvision AlexNet (ImageNet), LPIPS backbone"))
VGG16 = register("backbone/vgg16", WeightFile(
    "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
    sha256_prefix="397923af", root="torch_hub", description="torchvision VGG16 (ImageNet), DISTS backbone"))
LPIPS_ALEX = register("metric/lpips", WeightFile(
    "LPIPS_v0.1_alex-df73285e.pth", f"{HF}/LPIPS_v0.1_alex-df73285e.pth", sha256_prefix="df73285e",
    root="pyiqa", description="LPIPS v0.1 linear calibration layers for AlexNet"))
DISTS = register("metric/dists", WeightFile(
    "DISTS_weights-f5e65c96.pth", f"{HF}/DISTS_weights-f5e65c96.pth", sha256_prefix="f5e65c96",
    root="pyiqa", description="DISTS alpha/beta weights"))
# Full sha256 of the StyleGAN2-ADA TorchScript translation of TensorFlow's 2015-12-05 Inception that
# clean-fid downloads; NVIDIA publishes no checksum, this is the digest k-diffusion
# (crowsonkb/k-diffusion, k_diffusion/evaluation.py) pins for the same URL.
INCEPTION = register("metric/fid", WeightFile(
    "inception-2015-12-05.pt",
    "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
    sha256="f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4", subdir="metrics/cleanfid",
    description="Inception-v3 (TorchScript) used by clean-fid for FID/KID; sha256-pinned, verified "
    "before torch.jit.load (TorchScript cannot be loaded with weights_only=True)"))

TORCHVISION_FILES = {wf.filename: wf for wf in (ALEXNET, VGG16)}
