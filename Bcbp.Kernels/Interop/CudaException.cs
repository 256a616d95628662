namespace Bcbp.Kernels.Interop;

/// <summary>An NVRTC or CUDA driver error; the message names the kernel and the failing call.</summary>
public sealed class CudaException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public CudaException(string message) : base(message) { }
}
