namespace Bcbp.Training.Costs;

/// <summary>Cost of one Conv2d or Linear layer at one input: multiply-accumulates (MACs) and parameters, before and
/// after removing the weights whose <c>weight_mask</c> is zero.</summary>
public sealed record LayerCost
{
    public required string Name { get; init; }
    /// <summary>conv2d or linear.</summary>
    public required string Kind { get; init; }
    public required long[] WeightShape { get; init; }
    /// <summary>Output positions each weight is applied at (H_out x W_out for a conv, 1 for a linear layer).</summary>
    public required long OutputPositions { get; init; }
    public required long Weights { get; init; }
    public required long KeptWeights { get; init; }
    /// <summary>Bias terms (kept whole: pruning masks weights only).</summary>
    public long Bias { get; init; }

    public long Macs => Weights * OutputPositions;
    public long KeptMacs => KeptWeights * OutputPositions;
    public long Params => Weights + Bias;
    public long KeptParams => KeptWeights + Bias;
}

/// <summary>Cost of a model at one input size (<c>cost.json</c> in a run folder). Counts Conv2d and Linear layers
/// only: their MACs per image and their weights + biases. Batch norm, activations, pooling and residual additions
/// are left out (under 1% of the MACs of the ResNets and VGGs here). A masked weight counts as removed; the report
/// calls a MAC one FLOP-pair, as pruning papers do ("FLOPs" = MACs).</summary>
public sealed record ModelCost
{
    public const string FileName = "cost.json";

    /// <summary>The input the MACs were counted at: [channels, height, width].</summary>
    public required long[] InputShape { get; init; }
    public required IReadOnlyList<LayerCost> Layers { get; init; }

    public long Macs => Layers.Sum(l => l.Macs);
    public long KeptMacs => Layers.Sum(l => l.KeptMacs);
    public long Params => Layers.Sum(l => l.Params);
    public long KeptParams => Layers.Sum(l => l.KeptParams);
}
