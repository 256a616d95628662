using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Backend;

/// <summary>
/// The few libtorch entry points TorchSharp 0.107 does not wrap, called by their Itanium-mangled names in
/// libtorch_cpu (checked with <c>nm -D</c> on libtorch 2.10): <c>at::globalContext()</c> with
/// <c>at::Context::setBenchmarkCuDNN</c> / <c>benchmarkCuDNN</c>, and <c>at::TensorBase::set_data</c>.
/// Symbols are looked up in the libtorch_cpu TorchSharp already loaded (dlopen with RTLD_NOLOAD by soname), never a
/// second copy: a plain DllImport could pick the bundled CPU library beside the app while an external CUDA libtorch is
/// the one in use, and set a context nobody reads.
/// </summary>
public static class NativeTorch
{
    const int RtldLazy = 0x1, RtldNoload = 0x4;

    [DllImport("libdl.so.2", EntryPoint = "dlopen")]
    static extern IntPtr DlOpen(string file, int mode);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate IntPtr GlobalContextFn();
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate void SetBoolFn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool on);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] [return: MarshalAs(UnmanagedType.U1)] delegate bool GetBoolFn(IntPtr context);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate void SetDataFn(IntPtr self, IntPtr data);

    static readonly Lazy<IntPtr> Library = new(Open);
    static readonly Lazy<GlobalContextFn> GlobalContext = new(() => Function<GlobalContextFn>("_ZN2at13globalContextEv"));
    static readonly Lazy<SetBoolFn> SetBenchmark = new(() => Function<SetBoolFn>("_ZN2at7Context17setBenchmarkCuDNNEb"));
    static readonly Lazy<GetBoolFn> GetBenchmark = new(() => Function<GetBoolFn>("_ZNK2at7Context14benchmarkCuDNNEv"));
    static readonly Lazy<SetDataFn> SetDataOf = new(() => Function<SetDataFn>("_ZNK2at10TensorBase8set_dataERKS0_"));

    /// <summary><c>at::globalContext().setBenchmarkCuDNN(on)</c>.</summary>
    public static void SetBenchmarkCuDNN(bool on) => SetBenchmark.Value(GlobalContext.Value(), on);

    /// <summary><c>at::globalContext().benchmarkCuDNN()</c>.</summary>
    public static bool BenchmarkCuDNN() => GetBenchmark.Value(GlobalContext.Value());

    /// <summary>
    /// <c>variable.set_data(data)</c> (Python's <c>p.data = t</c>): <paramref name="variable"/> keeps its identity and
    /// autograd metadata (the same Parameter object in every module, hook and optimizer) and takes
    /// <paramref name="data"/>'s storage, sizes, strides and dtype. Unlike <c>set_</c>, which keeps the variable's dtype
    /// and so cannot point a float32 parameter at a bfloat16 buffer, this may change the dtype; libtorch resets the
    /// gradient accumulator when it does. Both must be dense tensors on the same device (libtorch's
    /// <c>_has_compatible_shallow_copy_type</c>); the caller guarantees it, since a C++ exception cannot cross P/Invoke.
    /// </summary>
    public static void SetData(Tensor variable, Tensor data)
    {
        if (variable.device_type != data.device_type || variable.device_index != data.device_index)
            throw new ArgumentException($"set_data needs tensors on one device, got {variable.device} and {data.device}");
        SetDataOf.Value(variable.Handle, data.Handle);
    }

    /// <summary>
    /// <c>std::swap</c> of the two <c>at::Tensor</c> objects behind <paramref name="a"/> and <paramref name="b"/>: every
    /// C# wrapper of <paramref name="a"/>'s handle (the same Parameter object in a module, the optimizer and the hooks)
    /// now reaches <paramref name="b"/>'s tensor, and the other way round; call it again to undo. A TorchSharp handle
    /// is a heap <c>at::Tensor*</c> (LibTorchSharp's <c>typedef torch::Tensor* Tensor</c>) and an <c>at::Tensor</c> is
    /// exactly one <c>intrusive_ptr&lt;TensorImpl&gt;</c>, so swapping the two pointer-sized words is the swap of the
    /// two intrusive pointers: no reference count changes. The gradient overlap uses it to make a module's forward read
    /// a non-leaf alias of its parameter (<c>Fitting/BucketReducer</c>): TorchSharp's modules hold their weights in
    /// private fields whose setters dispose the old parameter.
    /// </summary>
    public static void SwapTensors(Tensor a, Tensor b)
    {
        IntPtr ha = a.Handle, hb = b.Handle;
        if (ha == IntPtr.Zero || hb == IntPtr.Zero) throw new ObjectDisposedException("tensor", "cannot swap a disposed tensor");
        IntPtr implA = Marshal.ReadIntPtr(ha), implB = Marshal.ReadIntPtr(hb);
        Marshal.WriteIntPtr(ha, implB);
        Marshal.WriteIntPtr(hb, implA);
    }

    static IntPtr Open()
    {
        torch.InitializeDeviceType(DeviceType.CPU); // loads libtorch if nothing has yet
        IntPtr lib = OperatingSystem.IsLinux() ? DlOpen("libtorch_cpu.so", RtldLazy | RtldNoload) : IntPtr.Zero;
        // On Linux only the copy already loaded will do (a second libtorch would have a context nobody reads).
        if (lib == IntPtr.Zero && OperatingSystem.IsLinux())
            throw new InvalidOperationException("libtorch_cpu.so is not loaded under that name; cannot call into at::Context");
        if (lib == IntPtr.Zero && !NativeLibrary.TryLoad("libtorch_cpu", typeof(torch).Assembly, null, out lib))
            throw new InvalidOperationException("libtorch_cpu is not loaded; cannot call into at::Context");
        return lib;
    }

    static T Function<T>(string symbol) where T : Delegate =>
        NativeLibrary.TryGetExport(Library.Value, symbol, out var p) ? Marshal.GetDelegateForFunctionPointer<T>(p)
            : throw new InvalidOperationException($"libtorch_cpu has no symbol {symbol} (this libtorch's C++ API differs from 2.10/2.11's)");
}
