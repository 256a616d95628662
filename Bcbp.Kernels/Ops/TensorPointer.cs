using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Ops;

/// <summary>Raw device addresses of TorchSharp tensors (libtorch's <c>data_ptr()</c>, storage offset included).</summary>
internal static class TensorPointer
{
    [DllImport("LibTorchSharp")] static extern IntPtr THSTensor_data(IntPtr tensor);

    /// <summary>The address of element 0 of a contiguous tensor.</summary>
    internal static IntPtr Of(Tensor t, string what)
    {
        if (!t.is_contiguous()) throw new ArgumentException($"{what} must be contiguous");
        return THSTensor_data(t.Handle);
    }
}
