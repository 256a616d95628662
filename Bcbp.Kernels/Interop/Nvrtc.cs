using System.Runtime.InteropServices;
using System.Text;

namespace Bcbp.Kernels.Interop;

/// <summary>NVRTC: compiles CUDA C++ source to a cubin at run time.</summary>
internal static class Nvrtc
{
    [DllImport(CudaLibraries.Nvrtc)] static extern int nvrtcCreateProgram(out IntPtr prog, [MarshalAs(UnmanagedType.LPStr)] string src,
        [MarshalAs(UnmanagedType.LPStr)] string name, int numHeaders,
        [MarshalAs(UnmanagedType.LPArray, ArraySubType = UnmanagedType.LPStr)] string[] headers,
        [MarshalAs(UnmanagedType.LPArray, ArraySubType = UnmanagedType.LPStr)] string[] includeNames);
    [DllImport(CudaLibraries.Nvrtc)] static extern int nvrtcCompileProgram(IntPtr prog, int numOptions,
        [MarshalAs(UnmanagedType.LPArray, ArraySubType = UnmanagedType.LPStr)] string[] options);
    [DllImport(CudaLibraries.Nvrtc)] static extern int nvrtcGetProgramLogSize(IntPtr prog, out UIntPtr size);
    [DllImport(CudaLibraries.Nvrtc)] static extern int nvrtcGetProgramLog(IntPtr prog, byte[] log);
    [DllImport(CudaLibraries.Nvrtc)] static extern int nvrtcGetCUBINSize(IntPtr prog, out UIntPtr size);
    [DllImport(CudaLibraries.Nvrtc)] static extern int nvrtcGetCUBIN(IntPtr prog, byte[] cubin);
    [DllImport(CudaLibraries.Nvrtc)] static extern int nvrtcDestroyProgram(ref IntPtr prog);
    [DllImport(CudaLibraries.Nvrtc)] static extern IntPtr nvrtcGetErrorString(int result);

    /// <summary>Compiles <paramref name="source"/> to a cubin with <paramref name="headers"/> (include name -> text)
    /// available to its #include lines; throws with NVRTC's log on failure.</summary>
    internal static byte[] CompileToCubin(string source, string name, string[] options, IReadOnlyDictionary<string, string> headers)
    {
        CudaLibraries.Register();
        Check(nvrtcCreateProgram(out var prog, source, name, headers.Count, headers.Values.ToArray(), headers.Keys.ToArray()), name, "nvrtcCreateProgram");
        try
        {
            int rc = nvrtcCompileProgram(prog, options.Length, options);
            if (rc != 0)
                throw new CudaException($"NVRTC failed to compile '{name}' ({ErrorString(rc)}) with options [{string.Join(" ", options)}]:\n{Log(prog)}");
            Check(nvrtcGetCUBINSize(prog, out var size), name, "nvrtcGetCUBINSize");
            var cubin = new byte[(long)size.ToUInt64()];
            Check(nvrtcGetCUBIN(prog, cubin), name, "nvrtcGetCUBIN");
            return cubin;
        }
        finally { nvrtcDestroyProgram(ref prog); }
    }

    static string Log(IntPtr prog)
    {
        if (nvrtcGetProgramLogSize(prog, out var size) != 0) return "(no log)";
        var buf = new byte[(long)size.ToUInt64()];
        nvrtcGetProgramLog(prog, buf);
        return Encoding.UTF8.GetString(buf).TrimEnd('\0');
    }

    static string ErrorString(int rc) => Marshal.PtrToStringAnsi(nvrtcGetErrorString(rc)) ?? $"error {rc}";

    static void Check(int rc, string name, string call)
    {
        if (rc != 0) throw new CudaException($"{call} failed for '{name}': {ErrorString(rc)}");
    }
}
