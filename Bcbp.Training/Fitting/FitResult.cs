namespace Bcbp.Training.Fitting;

/// <summary>What a phase ended with: the state of its last checkpoint (history of all phases so far) and the last
/// evaluation.</summary>
public sealed record FitResult(CheckpointState State, EvalMetrics? Last);
