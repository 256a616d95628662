namespace Bcbp.Kernels.Interop;

/// <summary>
/// One kernel launch with its arguments fixed: the function, grid, block, dynamic shared memory and parameter block,
/// and optionally the launch that must follow it on the same stream (a split-K GEMM's reduction). Run it once (an
/// eager call) or many times on a stream a graph is being captured from; it keeps alive what its pointers point into
/// (bias copies, row tables, split-K partials) until disposed.
/// </summary>
internal sealed class KernelLaunch : IDisposable
{
    readonly IntPtr _function;
    readonly bool _programmatic;
    readonly (uint, uint, uint) _grid;
    readonly uint _threads, _shared;
    readonly KernelArgs _args;
    readonly object?[] _keepAlive;
    KernelLaunch? _next;

    internal KernelLaunch(CompiledKernel kernel, string name, (uint, uint, uint) grid, int threads, int shared, KernelArgs args, params object?[] keepAlive)
    {
        var function = kernel.Handle;
        _function = function; _programmatic = kernel.Programmatic; _name = name; _grid = grid; _threads = (uint)threads; _shared = (uint)shared; _args = args; _keepAlive = keepAlive;
        if (shared > 48 * 1024) CudaDriver.SetMaxDynamicSharedMemory(function, shared, name);
    }

    /// <summary>The kernel's name (for errors and profiles), with the follow-up's after a '+'.</summary>
    internal string Name => _next is null ? _name : $"{_name}+{_next.Name}";
    readonly string _name;

    /// <summary>Registers per thread, local (spilled) bytes per thread and resident blocks per SM of this launch's
    /// kernel at its block size and shared memory, e.g. "164 regs, 3 blocks/SM" (the follow-up's after a '+').</summary>
    internal string Resources()
    {
        var (regs, local, blocks) = CudaDriver.Resources(_function, (int)_threads, (int)_shared, _name);
        string own = $"{regs} regs{(local > 0 ? $" ({local} B local)" : "")}, {blocks} blocks/SM";
        return _next is null ? own : $"{own} + {_next.Resources()}";
    }

    /// <summary>Makes <paramref name="next"/> run right after this launch, on the same stream; it is disposed with it.
    /// Returns this.</summary>
    internal KernelLaunch Then(KernelLaunch next)
    {
        if (_next is not null) throw new InvalidOperationException($"{Name} already has a follow-up launch");
        _next = next;
        return this;
    }

    /// <summary>Queues the launch (and its follow-up) on <paramref name="stream"/>.</summary>
    internal void Run(IntPtr stream)
    {
        CudaDriver.Launch(_function, _grid, _threads, _shared, _args.Pointers, _name, stream, _programmatic);
        _next?.Run(stream);
    }

    public void Dispose()
    {
        _args.Dispose();
        foreach (var o in _keepAlive) (o as IDisposable)?.Dispose();
        _next?.Dispose();
    }
}
