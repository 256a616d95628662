namespace Bcbp.Training.Fitting;

/// <summary>Test-set quality: mean cross-entropy (no label smoothing) and top-1 / top-5 accuracy in percent.</summary>
public sealed record EvalMetrics(double Loss, double Top1, double Top5);
