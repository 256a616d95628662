using System.Runtime.ExceptionServices;
using Bcbp.Training.Backend;
using Bcbp.Training.Distributed;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Training.Fitting;

/// <summary>
/// Overlaps the data-parallel gradient all-reduce with backward, as DistributedDataParallel's reducer does: each
/// bucket of <see cref="FlatParameters.Buckets"/> starts its reduction (<see cref="ICollective.StartAllReduce"/>) as
/// soon as all of its gradients exist, and <see cref="Finish"/> waits for them all before the optimizer step.
/// <para>
/// TorchSharp 0.107 has no tensor gradient hooks, but it has custom autograd functions
/// (<c>torch.autograd.MultiTensorFunction</c>, whose C# backward libtorch's engine calls as a node of the graph).
/// While <see cref="Attach"/> is in force, a forward pre-hook of every module that owns trainable parameters applies an
/// identity function to them and makes the module's forward read its outputs (<see cref="NativeTorch.SwapTensors"/>:
/// the Parameter object reaches the alias until the module's forward hook swaps back). Autograd sums every use of an
/// alias before it calls the function's backward, so that backward receives the parameter's complete gradient; it copies
/// it into the parameter's slice of <see cref="FlatParameters.Gradient"/> and returns no gradient for the leaf (p.grad
/// stays unset: no second copy). The node is made just before the module's own operations, so the engine (which runs
/// ready nodes latest-made first) runs it right after the module's backward, not at the end. A bucket is complete when
/// each of its parameters has received as many gradients as its module was called this step; complete buckets are
/// started strictly in bucket order (every rank issues the same collectives in the same order whatever order its
/// buckets complete in).
/// </para>
/// <para>
/// Whatever the signals did not cover is gathered after backward by <see cref="Finish"/> from the leaves' gradients
/// (a module called through <c>forward</c> rather than <c>call</c>, a module type other than
/// <c>Module&lt;Tensor, Tensor&gt;</c>, a bucket whose module output was not used): such buckets are reduced after
/// backward, as before, so the result is the same and only the overlap is lost. A parameter used outside its own
/// module's forward as well would add a leaf gradient after its bucket was reduced: <see cref="Finish"/> refuses that
/// with the fix (<c>train.overlap_reduce: false</c>) rather than drop it.
/// </para>
/// Cost: one custom-function node per module per step (its C# callback on the engine's thread), and TorchSharp keeps
/// an empty tensor shaped like each output until the graph is freed (one extra copy of the compute weights' size).
/// The gradient the hooks then see (<see cref="ExposeGradients"/>) is the reduced one: hooks run after the reduction,
/// as with DDP (the pruning hook's 0/1 masking commutes with the average).
/// </summary>
public sealed class BucketReducer
{
    readonly FlatParameters _flat;
    readonly ICollective _collective;
    readonly (nn.Module<Tensor, Tensor> Module, int[] Params)[] _owners;
    readonly string[] _names;
    readonly int[] _bucketOf;
    readonly Tensor[] _gradViews;
    readonly object _lock = new();
    readonly List<(int Owner, List<Tensor> Aliases)> _active = new();

    // Per step (reset by Attach).
    readonly int[] _uses, _delivered, _complete;
    readonly bool[] _ready;
    int _next;
    bool _collecting;
    Exception? _failure;
    readonly List<int> _readyOrder = new();
    readonly List<BucketLaunch> _launches = new();

    /// <param name="model">The model whose modules get the signals (the one <paramref name="flat"/> was made of).</param>
    /// <param name="flat">Its flat parameters and gradient buckets.</param>
    /// <param name="collective">The job's collective.</param>
    public BucketReducer(nn.Module model, FlatParameters flat, ICollective collective)
    {
        _flat = flat;
        _collective = collective;
        _names = new string[flat.Parameters.Count];
        foreach (var (name, p) in model.named_parameters())
            if (flat.IndexOf(p) is var i and >= 0) _names[i] = name;
        var owners = new List<(nn.Module<Tensor, Tensor>, int[])>();
        foreach (var (_, module) in model.named_modules())
        {
            if (module is not nn.Module<Tensor, Tensor> hookable) continue;
            var own = module.named_parameters(recurse: false).Select(np => flat.IndexOf(np.parameter))
                .Where(i => i >= 0).ToArray();
            if (own.Length > 0) owners.Add((hookable, own));
        }
        _owners = owners.ToArray();
        _bucketOf = new int[flat.Parameters.Count];
        foreach (var b in flat.Buckets) foreach (var i in b.Parameters) _bucketOf[i] = b.Index;
        _gradViews = Enumerable.Range(0, flat.Parameters.Count).Select(i => flat.ViewOf(flat.Gradient, i).DetachFromDisposeScope()).ToArray();
        _uses = new int[flat.Parameters.Count];
        _delivered = new int[flat.Parameters.Count];
        _complete = new int[flat.Buckets.Count];
        _ready = new bool[flat.Buckets.Count];
    }

    /// <summary>The buckets in the order they became complete during the last step's backward (those completed only
    /// by <see cref="Finish"/> are not listed).</summary>
    public IReadOnlyList<int> ReadyOrder => _readyOrder;

    /// <summary>The last step's reductions in the order they were started.</summary>
    public IReadOnlyList<BucketLaunch> Launches => _launches;

    /// <summary>Starts a step: until the returned scope is disposed, every call of a parameter-owning module's
    /// <c>call</c> routes its parameters through the readiness signal. Dispose it after the forward pass (before
    /// backward is fine: the graph holds what it needs); it also undoes the swap of a module whose forward threw.</summary>
    public IDisposable Attach()
    {
        Array.Clear(_uses);
        Array.Clear(_delivered);
        Array.Clear(_complete);
        Array.Clear(_ready);
        _next = 0;
        _failure = null;
        _readyOrder.Clear();
        _launches.Clear();
        _collecting = true;
        var removers = new List<Action>();
        for (int o = 0; o < _owners.Length; o++)
        {
            int owner = o;
            var m = _owners[o].Module;
            var pre = m.register_forward_pre_hook((Action<nn.Module>)(_ => Route(owner)));
            var post = m.register_forward_hook((Action<nn.Module>)(_ => Unroute(owner)));
            removers.Add(pre.remove);
            removers.Add(post.remove);
        }
        return new Scope(this, removers);
    }

    /// <summary>The module's parameters through one signal node; the module reads the aliases until <see cref="Unroute"/>.</summary>
    void Route(int owner)
    {
        var idx = _owners[owner].Params;
        var args = new object[idx.Length + 1];
        args[0] = new Ticket(this, idx);
        for (int j = 0; j < idx.Length; j++) args[j + 1] = _flat.Parameters[idx[j]];
        var aliases = Signal.apply(args);
        for (int j = 0; j < idx.Length; j++)
        {
            _uses[idx[j]]++;
            NativeTorch.SwapTensors(_flat.Parameters[idx[j]], aliases[j]);
        }
        _active.Add((owner, aliases));
    }

    void Unroute(int owner)
    {
        int k = _active.FindLastIndex(a => a.Owner == owner);
        if (k < 0) return;
        var (_, aliases) = _active[k];
        _active.RemoveAt(k);
        var idx = _owners[owner].Params;
        for (int j = 0; j < idx.Length; j++) NativeTorch.SwapTensors(_flat.Parameters[idx[j]], aliases[j]);
        foreach (var a in aliases) a.Dispose();
    }

    /// <summary>A signal's backward (on the autograd engine's thread): the module's parameters' gradients into their
    /// slices; complete buckets start reducing. Never throws into the engine (an exception cannot cross back into
    /// native code): a failure is kept and <see cref="Finish"/> throws it.</summary>
    void Deliver(int[] idx, IReadOnlyList<Tensor> grads)
    {
        lock (_lock)
        {
            if (!_collecting || _failure is not null) return;
            try
            {
                using var noGrad = no_grad();
                using var scope = NewDisposeScope();
                var completed = new List<int>();
                for (int j = 0; j < idx.Length; j++)
                {
                    int i = idx[j];
                    var g = _flat.FlatOrder(i, grads[j]);
                    var slice = _flat.GradientSlice(i);
                    if (_delivered[i] == 0) slice.copy_(g); else slice.add_(g);
                    if (++_delivered[i] == _uses[i])
                    {
                        int b = _bucketOf[i];
                        if (++_complete[b] == _flat.Buckets[b].Parameters.Count) completed.Add(b);
                    }
                }
                // Buckets one delivery completes together are listed in bucket order.
                foreach (var b in completed.Order()) { _ready[b] = true; _readyOrder.Add(b); }
                LaunchReady(duringBackward: true);
            }
            catch (Exception e) { _failure = e; }
        }
    }

    void LaunchReady(bool duringBackward)
    {
        while (_next < _ready.Length && _ready[_next])
        {
            _launches.Add(new BucketLaunch(_next, duringBackward, _delivered.Count(d => d > 0)));
            _collective.StartAllReduce(new[] { _flat.Buckets[_next].View }, ReduceOp.Average);
            _next++;
        }
    }

    /// <summary>After backward: gathers what the signals did not deliver (leaf gradients, zeros for parameters without
    /// one), starts the remaining buckets in order and makes later work wait for every reduction. Throws what went
    /// wrong inside backward.</summary>
    public void Finish()
    {
        lock (_lock)
        {
            _collecting = false;
            if (_failure is { } failure) ExceptionDispatchInfo.Capture(failure).Throw();
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            for (int b = 0; b < _next; b++)
                foreach (var i in _flat.Buckets[b].Parameters)
                    if (_flat.Parameters[i].grad is not null)
                        throw new InvalidOperationException($"data parallel: parameter '{_names[i]}' is used outside its module's forward too, " +
                            "so part of its gradient came after its bucket was reduced; set train.overlap_reduce: false (reduce after backward).");
            for (int b = _next; b < _ready.Length; b++)
            {
                foreach (var i in _flat.Buckets[b].Parameters)
                {
                    var leaf = _flat.Parameters[i].grad;
                    if (_delivered[i] == 0) _flat.GradientSlice(i).copy_(_flat.FlatOrder(i, leaf));
                    else if (leaf is not null) _flat.GradientSlice(i).add_(_flat.FlatOrder(i, leaf));
                }
                _ready[b] = true;
            }
            LaunchReady(duringBackward: false);
            _collective.WaitForReductions();
        }
    }

    /// <summary>Points every parameter's gradient at its slice of the reduced <see cref="FlatParameters.Gradient"/>
    /// (call with the master weights in place), so that hooks see and change the gradient the optimizer steps.</summary>
    public void ExposeGradients()
    {
        for (int i = 0; i < _gradViews.Length; i++) _flat.Parameters[i].grad = _gradViews[i];
    }

    sealed class Scope(BucketReducer owner, List<Action> removers) : IDisposable
    {
        bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            foreach (var remove in removers) remove();
            // A module whose forward threw kept its aliases: swap back, latest first.
            while (owner._active.Count > 0) owner.Unroute(owner._active[^1].Owner);
        }
    }

    sealed record Ticket(BucketReducer Reducer, int[] Params);

    /// <summary>The identity whose backward is the readiness signal (inputs: the ticket, then the parameters).</summary>
    internal sealed class Signal : autograd.MultiTensorFunction<Signal>
    {
        public override string Name => "BucketReducer.Signal";

        public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
        {
            ctx.save_data("ticket", vars[0]);
            return vars.Skip(1).Cast<Tensor>().ToList();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> grad_outputs)
        {
            var ticket = (Ticket)ctx.get_data("ticket");
            ticket.Reducer.Deliver(ticket.Params, grad_outputs);
            // No gradient for the leaves: it has been delivered into the flat gradient.
            return new List<Tensor>(new Tensor[ticket.Params.Length + 1]);
        }
    }
}

/// <summary>One started bucket reduction: <paramref name="Bucket"/>, whether it started inside backward (overlapping
/// it) or after, and how many parameters had received their gradient by then.</summary>
public sealed record BucketLaunch(int Bucket, bool DuringBackward, int ParametersDelivered);
