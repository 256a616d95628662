namespace Bcbp.Kernels.Interop;

/// <summary>
/// One kernel launch with its arguments fixed: the function, grid, block, dynamic shared memory and parameter block.
/// Run it once (an eager call) or many times on a stream a graph is being captured from; it keeps alive what its
/// pointers point into (bias copies, row tables) until disposed.
/// </summary>
internal sealed class KernelLaunch : IDisposable
{
    readonly IntPtr _function;
    readonly (uint, uint, uint) _grid;
    readonly uint _threads, _shared;
    readonly KernelArgs _args;
    readonly object?[] _keepAlive;

    internal KernelLaunch(IntPtr function, string name, (uint, uint, uint) grid, int threads, int shared, KernelArgs args, params object?[] keepAlive)
    {
        _function = function; Name = name; _grid = grid; _threads = (uint)threads; _shared = (uint)shared; _args = args; _keepAlive = keepAlive;
        if (shared > 48 * 1024) CudaDriver.SetMaxDynamicSharedMemory(function, shared, name);
    }

    /// <summary>The kernel's name (for errors).</summary>
    internal string Name { get; }

    /// <summary>Queues the launch on <paramref name="stream"/>.</summary>
    internal void Run(IntPtr stream) => CudaDriver.Launch(_function, _grid, _threads, _shared, _args.Pointers, Name, stream);

    public void Dispose()
    {
        _args.Dispose();
        foreach (var o in _keepAlive) (o as IDisposable)?.Dispose();
    }
}
