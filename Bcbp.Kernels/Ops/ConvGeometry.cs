namespace Bcbp.Kernels.Ops;

/// <summary>Kernel size, stride, padding and dilation of a 2-D convolution (PyTorch's Conv2d arguments).</summary>
public sealed record ConvGeometry(int KernelH, int KernelW, int StrideH = 1, int StrideW = 1, int PadH = 0, int PadW = 0, int DilationH = 1, int DilationW = 1)
{
    /// <summary>A fully connected layer seen as a 1x1 convolution.</summary>
    public static readonly ConvGeometry Linear = new(1, 1);

    /// <summary>Output height and width for an input of <paramref name="h"/> x <paramref name="w"/>.</summary>
    public (int oh, int ow) OutputSize(long h, long w)
    {
        long oh = (h + 2 * PadH - DilationH * (KernelH - 1) - 1) / StrideH + 1;
        long ow = (w + 2 * PadW - DilationW * (KernelW - 1) - 1) / StrideW + 1;
        if (oh <= 0 || ow <= 0)
            throw new ArgumentException($"convolution input {h}x{w} is too small for kernel {KernelH}x{KernelW} (padding {PadH},{PadW}, dilation {DilationH},{DilationW})");
        return ((int)oh, (int)ow);
    }

    /// <summary>True for a 1x1, stride 1, unpadded convolution: a plain GEMM on the input.</summary>
    public bool IsPointwise => KernelH == 1 && KernelW == 1 && StrideH == 1 && StrideW == 1 && PadH == 0 && PadW == 0;
}
