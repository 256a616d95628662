using Bcbp.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Layers;

/// <summary>
/// One Conv2d or Linear module that is pruned: its name (as in <c>named_modules</c>), the module, and its target
/// sparsity. Weight and mask are read from the module each time (never cached) so that <c>.to(device)</c> and
/// <c>load_state_dict</c> cannot leave stale references behind.
/// </summary>
public sealed class PrunableLayer
{
    public PrunableLayer(string name, nn.Module module, double sparsity, bool overridden = false)
    {
        Name = name;
        Module = module;
        Sparsity = sparsity;
        Overridden = overridden;
        var w = Weight;
        M = w.shape[0];
        K = w.numel() / M;
    }

    public string Name { get; }
    public nn.Module Module { get; }
    /// <summary>Final target sparsity of this layer (prune.sparsity or its override).</summary>
    public double Sparsity { get; }
    /// <summary>True when a prune.overrides entry set <see cref="Sparsity"/>; such layers are ranked on their own even in global scope.</summary>
    public bool Overridden { get; }
    public long M { get; }
    public long K { get; }
    public long NumWeights => M * K;

    /// <summary>The module's weight parameter.</summary>
    public Tensor Weight => Module.get_parameter("weight")
        ?? throw new InvalidOperationException($"layer '{Name}' has no parameter 'weight'.");

    /// <summary>The module's <see cref="WeightMask"/> buffer, or null before <see cref="EnsureMask"/>.</summary>
    public Tensor? MaskOrNull => WeightMask.Of(Module);

    /// <summary>The module's <c>weight_mask</c> buffer.</summary>
    public Tensor Mask => MaskOrNull ?? throw new InvalidOperationException($"layer '{Name}' has no '{WeightMask.BufferName}' buffer; create the PruningHook first.");

    /// <summary>Registers an all-ones <c>weight_mask</c> (same shape, dtype and device as the weight) unless one exists.</summary>
    public void EnsureMask()
    {
        if (MaskOrNull is not null) return;
        var w = Weight;
        WeightMask.Register(Module, torch.ones_like(w).detach());
    }

    /// <summary>weight *= mask, in place and outside autograd.</summary>
    public void ApplyMask()
    {
        using var _ = torch.no_grad();
        Weight.mul_(Mask);
    }

    /// <summary>Fraction of zeros in the mask.</summary>
    public double AchievedSparsity => 1.0 - (double)Mask.count_nonzero().item<long>() / NumWeights;
}
