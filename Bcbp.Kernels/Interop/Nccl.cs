using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;

namespace Bcbp.Kernels.Interop;

/// <summary>
/// The NCCL calls data-parallel training needs, by P/Invoke to libnccl.so.2 (PyTorch's pip package ships it; found as
/// <see cref="CudaLibraries"/> says). Every call checks its result and throws <see cref="NcclException"/> with
/// NCCL's own error string. TorchSharp 0.107 has no process group or NCCL binding of its own.
/// </summary>
public static class Nccl
{
    /// <summary>ncclUniqueId: 128 opaque bytes that rank 0 makes and every rank passes to <see cref="InitRank"/>.</summary>
    [InlineArray(UniqueIdBytes)]
    public struct UniqueId { byte _element; }

    /// <summary>Size of <see cref="UniqueId"/> (NCCL_UNIQUE_ID_BYTES).</summary>
    public const int UniqueIdBytes = 128;

    /// <summary>ncclDataType_t.</summary>
    public enum DataType { Int8 = 0, Uint8 = 1, Int32 = 2, Uint32 = 3, Int64 = 4, Uint64 = 5, Float16 = 6, Float32 = 7, Float64 = 8, BFloat16 = 9 }

    /// <summary>ncclRedOp_t (Avg since NCCL 2.10).</summary>
    public enum RedOp { Sum = 0, Prod = 1, Max = 2, Min = 3, Avg = 4 }

    [DllImport(CudaLibraries.Nccl)] static extern int ncclGetVersion(out int version);
    [DllImport(CudaLibraries.Nccl)] static extern int ncclGetUniqueId(out UniqueId id);
    [DllImport(CudaLibraries.Nccl)] static extern int ncclCommInitRank(out IntPtr comm, int nranks, UniqueId id, int rank);
    [DllImport(CudaLibraries.Nccl)] static extern int ncclCommDestroy(IntPtr comm);
    [DllImport(CudaLibraries.Nccl)] static extern int ncclCommAbort(IntPtr comm);
    [DllImport(CudaLibraries.Nccl)] static extern int ncclCommGetAsyncError(IntPtr comm, out int asyncError);
    [DllImport(CudaLibraries.Nccl)] static extern int ncclAllReduce(IntPtr send, IntPtr recv, nuint count, DataType type, RedOp op, IntPtr comm, IntPtr stream);
    [DllImport(CudaLibraries.Nccl)] static extern int ncclBroadcast(IntPtr send, IntPtr recv, nuint count, DataType type, int root, IntPtr comm, IntPtr stream);
    [DllImport(CudaLibraries.Nccl)] static extern int ncclGroupStart();
    [DllImport(CudaLibraries.Nccl)] static extern int ncclGroupEnd();
    [DllImport(CudaLibraries.Nccl)] static extern IntPtr ncclGetErrorString(int result);
    // libtorch's data_ptr() (as Ops.TensorPointer reads it; Interop does not use Ops).
    [DllImport("LibTorchSharp")] static extern IntPtr THSTensor_data(IntPtr tensor);
    [DllImport("libc", EntryPoint = "setenv")] static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>Prefer the NCCL of the PyTorch install whose libtorch is <paramref name="libTorchDir"/> (torch/lib);
    /// call before any other member.</summary>
    public static void SearchNear(string? libTorchDir)
    {
        CudaLibraries.NcclNear = libTorchDir;
        CudaLibraries.Register();
    }

    /// <summary>Sets a variable in the process's native environment, where NCCL reads its settings
    /// (.NET's Environment.SetEnvironmentVariable does not reach getenv on Linux).</summary>
    public static void SetNativeEnvironment(string name, string value)
    {
        Environment.SetEnvironmentVariable(name, value);
        if (!OperatingSystem.IsWindows()) SetEnv(name, value, 1);
    }

    /// <summary>The variable that turns NVLink multicast (NVLS) on or off; NVLS can put the GPUs of a shared host out of
    /// service, so bcbp turns it off unless the user chose.</summary>
    public const string NvlsVariable = "NCCL_NVLS_ENABLE";

    /// <summary>Sets <c>NCCL_NVLS_ENABLE=0</c> unless the environment already has a value (the user's, kept). Call it
    /// once at process start, before any thread of ours runs: setenv while another thread calls getenv is undefined
    /// behaviour in glibc. Returns the value found, or null when it was unset and is now 0.</summary>
    public static string? DefaultNvlsOff()
    {
        string? set = Environment.GetEnvironmentVariable(NvlsVariable);
        if (!string.IsNullOrEmpty(set)) return set;
        SetNativeEnvironment(NvlsVariable, "0");
        return null;
    }

    /// <summary>NCCL's version as "2.21.5".</summary>
    public static string Version()
    {
        CudaLibraries.Register();
        Check(ncclGetVersion(out int v), "ncclGetVersion");
        // Since 2.9: major * 10000 + minor * 100 + patch.
        return v >= 10000 ? $"{v / 10000}.{v / 100 % 100}.{v % 100}" : $"{v / 1000}.{v / 100 % 10}.{v % 100}";
    }

    public static UniqueId GetUniqueId()
    {
        CudaLibraries.Register();
        Check(ncclGetUniqueId(out var id), "ncclGetUniqueId");
        return id;
    }

    /// <summary>Joins the communicator of <paramref name="nranks"/> ranks on the current CUDA device (blocks until all
    /// ranks have joined).</summary>
    public static IntPtr InitRank(int nranks, UniqueId id, int rank)
    {
        Check(ncclCommInitRank(out var comm, nranks, id, rank), "ncclCommInitRank");
        return comm;
    }

    /// <summary>Frees the communicator after every rank's collectives have completed (collective over the node's
    /// ranks: call it only when every rank is finishing too).</summary>
    public static void Destroy(IntPtr comm) => Check(ncclCommDestroy(comm), "ncclCommDestroy");

    /// <summary>Stops the communicator's pending work and frees it without waiting for the other ranks: the teardown
    /// after a failure, when peers may never join the collectives queued on it.</summary>
    public static void Abort(IntPtr comm) => Check(ncclCommAbort(comm), "ncclCommAbort");

    /// <summary>NCCL's asynchronous error of the communicator (a peer or the network failed under a collective), as
    /// its error string; null while there is none (ncclSuccess, or ncclInProgress).</summary>
    public static string? AsyncError(IntPtr comm)
    {
        Check(ncclCommGetAsyncError(comm, out int rc), "ncclCommGetAsyncError");
        return rc is 0 or InProgress ? null : $"{ErrorString(rc)} (ncclResult {rc})";
    }

    const int InProgress = 7;

    /// <summary>Queues an in-place all-reduce of <paramref name="t"/> (contiguous, on the communicator's device) on
    /// <paramref name="stream"/>.</summary>
    public static void AllReduce(torch.Tensor t, RedOp op, IntPtr comm, IntPtr stream)
    {
        var p = Pointer(t);
        Check(ncclAllReduce(p, p, (nuint)t.numel(), TypeOf(t.dtype), op, comm, stream), "ncclAllReduce");
    }

    /// <summary>Queues an in-place broadcast of rank <paramref name="root"/>'s <paramref name="t"/> on <paramref name="stream"/>.</summary>
    public static void Broadcast(torch.Tensor t, int root, IntPtr comm, IntPtr stream)
    {
        var p = Pointer(t);
        Check(ncclBroadcast(p, p, (nuint)t.numel(), TypeOf(t.dtype), root, comm, stream), "ncclBroadcast");
    }

    static IntPtr Pointer(torch.Tensor t)
    {
        if (!t.is_contiguous()) throw new ArgumentException("NCCL needs contiguous tensors.");
        return THSTensor_data(t.Handle);
    }

    /// <summary>NCCL's name of a tensor dtype (bool as uint8).</summary>
    public static DataType TypeOf(torch.ScalarType dtype) => dtype switch
    {
        torch.ScalarType.Float32 => DataType.Float32,
        torch.ScalarType.Float64 => DataType.Float64,
        torch.ScalarType.Float16 => DataType.Float16,
        torch.ScalarType.BFloat16 => DataType.BFloat16,
        torch.ScalarType.Int64 => DataType.Int64,
        torch.ScalarType.Int32 => DataType.Int32,
        torch.ScalarType.Int8 => DataType.Int8,
        torch.ScalarType.Byte or torch.ScalarType.Bool => DataType.Uint8,
        _ => throw new NotSupportedException($"NCCL has no type for tensors of {dtype}."),
    };

    public static void GroupStart() => Check(ncclGroupStart(), "ncclGroupStart");
    public static void GroupEnd() => Check(ncclGroupEnd(), "ncclGroupEnd");

    /// <summary>ncclGetErrorString of a result code.</summary>
    public static string ErrorString(int result) => Marshal.PtrToStringAnsi(ncclGetErrorString(result)) ?? $"error {result}";

    static void Check(int rc, string call)
    {
        if (rc != 0) throw new NcclException($"NCCL call {call} failed: {ErrorString(rc)} (ncclResult {rc}); NCCL_DEBUG=INFO in the environment shows NCCL's log.");
    }
}

/// <summary>An NCCL call failed; the message has NCCL's error string.</summary>
public sealed class NcclException(string message) : InvalidOperationException(message);
