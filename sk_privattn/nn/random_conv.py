"""Random dilated convolutions (ROCKET, Dempster et al., 2020) as a frozen layer.

The kernels, their dilations and their biases are drawn from a seed and the
longest series length, both public: they read nothing from the data, so the
features they compute cost no privacy. Nothing here is trained.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["RandomConvolutions"]

#: Rows convolved at a time by :meth:`RandomConvolutions.count_positive`.
_CHUNK = 256

#: The longest patch :meth:`RandomConvolutions.count_positive` counts in a byte.
MAX_PATCH_SIZE = 255

#: Kernel lengths that ROCKET draws from.
KERNEL_LENGTHS = (7, 9, 11)


class RandomConvolutions(nn.Module):
    """A bank of random, dilated, frozen 1-D convolutions.

    As in ROCKET: each kernel has a length drawn from 7, 9 and 11, weights
    drawn from a standard normal and centred to mean 0, a bias drawn
    uniformly from [-1, 1], and a dilation ``floor(2 ** u)`` with ``u``
    uniform on ``[0, log2((max_timesteps - 1) / (length - 1))]``. Unlike
    ROCKET, every kernel is zero-padded so that its output has one value per
    time step, centred on it: a series then gets the same outputs on its own
    steps whatever padding follows it, which keeps NaN padding exact. A
    kernel reads every input channel.

    The weights are buffers, not parameters: no optimizer sees them, and
    Opacus computes no per-sample gradient for them.

    Parameters
    ----------
    n_inputs : int
        Channels of the input.
    n_kernels : int
    max_timesteps : int
        Longest series (public): it bounds the dilations.
    seed : int, default=0
        Seeds the kernels, so that a model can be rebuilt.

    Examples
    --------
    >>> import torch
    >>> from sk_privattn.nn import RandomConvolutions
    >>> convolutions = RandomConvolutions(2, 10, max_timesteps=96, seed=0)
    >>> convolutions(torch.randn(3, 96, 2)).shape
    torch.Size([3, 96, 10])
    """

    def __init__(self, n_inputs, n_kernels, max_timesteps, *, seed=0):
        super().__init__()
        self.n_inputs = int(n_inputs)
        self.n_kernels = int(n_kernels)
        self.max_timesteps = int(max_timesteps)
        self.seed = int(seed)
        generator = torch.Generator().manual_seed(self.seed)
        lengths = torch.tensor(KERNEL_LENGTHS)[torch.randint(len(KERNEL_LENGTHS), (self.n_kernels,), generator=generator)]
        groups = {}
        for kernel, length in enumerate(lengths.tolist()):
            top = math.log2(max(1.0, (max_timesteps - 1) / (length - 1)))
            dilation = int(2 ** (torch.rand((), generator=generator).item() * top))
            groups.setdefault((length, dilation), []).append(kernel)
        weight = torch.randn(self.n_kernels, self.n_inputs, max(KERNEL_LENGTHS), generator=generator)
        bias = 2 * torch.rand(self.n_kernels, generator=generator) - 1
        #: (length, dilation) of each group of kernels, in the order of the output channels.
        self.groups = []
        for index, ((length, dilation), kernels) in enumerate(sorted(groups.items())):
            w = weight[kernels, :, :length]
            w = w - w.mean(dim=(1, 2), keepdim=True)
            self.register_buffer(f"weight_{index}", w.contiguous())
            self.register_buffer(f"bias_{index}", bias[kernels].contiguous())
            self.groups.append((length, dilation))

    def config(self):
        """The arguments that build these kernels again, exactly (they are drawn from ``seed``)."""
        return {"n_inputs": self.n_inputs, "n_kernels": self.n_kernels, "max_timesteps": self.max_timesteps,
                "seed": self.seed}

    def forward(self, x):
        """Convolve ``x`` (batch, time, n_inputs); return (batch, time, n_kernels)."""
        signal = x.transpose(1, 2)
        outputs = []
        for index, (length, dilation) in enumerate(self.groups):
            outputs.append(
                F.conv1d(
                    signal,
                    getattr(self, f"weight_{index}"),
                    getattr(self, f"bias_{index}"),
                    padding=(length - 1) // 2 * dilation,
                    dilation=dilation,
                )
            )
        return torch.cat(outputs, dim=1).transpose(1, 2)

    @torch.no_grad()
    def count_positive(self, x, mask, patch_size):
        """Per patch of ``patch_size`` steps, how many outputs of each kernel are positive.

        Only the steps of each series count (``mask``); zeros (padding)
        beyond a series' end enter the convolutions, as they would whatever
        the padding's length.

        Parameters
        ----------
        x : Tensor of shape (batch, time, n_inputs)
        mask : bool Tensor of shape (batch, time)
        patch_size : int
            At most 255: the counts are stored as bytes.

        Returns
        -------
        counts : uint8 Tensor of shape (batch, ceil(time / patch_size), n_kernels)
        """
        if not 1 <= patch_size <= MAX_PATCH_SIZE:
            raise ValueError(
                f"patch_size={patch_size} must be between 1 and {MAX_PATCH_SIZE}: the counts are stored as "
                "bytes. Count over patches of at most 255 steps and sum them as integers for a longer window."
            )
        batch, n_steps, _ = x.shape
        n_patches = -(-n_steps // patch_size)
        pad = n_patches * patch_size - n_steps
        counts = torch.empty(batch, n_patches, self.n_kernels, dtype=torch.uint8)
        for start in range(0, batch, _CHUNK):
            stop = start + _CHUNK
            positive = (self(x[start:stop]) > 0) & mask[start:stop, :, None]
            positive = F.pad(positive, (0, 0, 0, pad)).reshape(-1, n_patches, patch_size, self.n_kernels)
            counts[start:stop] = positive.sum(dim=2, dtype=torch.uint8)
        return counts
