using System.Runtime.InteropServices;

namespace Bcbp.Kernels.Interop;

/// <summary>Kernel parameters for cuLaunchKernel: each value in its own 8-byte slot of one unmanaged block.</summary>
internal sealed class KernelArgs : IDisposable
{
    readonly IntPtr _block;
    readonly IntPtr[] _pointers;
    int _count;

    internal KernelArgs(int capacity)
    {
        _block = Marshal.AllocHGlobal(8 * capacity);
        _pointers = new IntPtr[capacity];
    }

    internal KernelArgs Ptr(IntPtr p) { Marshal.WriteIntPtr(Slot(), p); return this; }
    internal KernelArgs I32(int v) { Marshal.WriteInt32(Slot(), v); return this; }
    internal KernelArgs I64(long v) { Marshal.WriteInt64(Slot(), v); return this; }

    IntPtr Slot()
    {
        var p = _block + 8 * _count;
        _pointers[_count++] = p;
        return p;
    }

    internal IntPtr[] Pointers => _count == _pointers.Length ? _pointers
        : throw new InvalidOperationException($"kernel expects {_pointers.Length} arguments, {_count} given");

    public void Dispose() => Marshal.FreeHGlobal(_block);
}
