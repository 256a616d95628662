namespace Bcbp.Training.Pruning.Layers;

/// <summary>A layer with weights that pruning leaves dense, and why (a grouped conv under BCBP, a layer type it does not know).</summary>
public sealed record LeftDenseLayer(string Name, string Reason);
