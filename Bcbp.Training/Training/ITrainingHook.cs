using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Training;

/// <summary>What a hook sees of the training loop.</summary>
public sealed class TrainContext
{
    public required nn.Module Model { get; init; }
    public required optim.Optimizer Optimizer { get; init; }
    public required Device Device { get; init; }
    public int Epoch { get; set; }
    /// <summary>Optimizer steps taken since the start of this training phase.</summary>
    public long GlobalStep { get; set; }
    public int StepsPerEpoch { get; init; }
    public Serilog.ILogger Log { get; init; } = Serilog.Log.Logger;
}

/// <summary>
/// Extension points of the trainer, in the order they run. Pruning is a hook: it updates masks at batch begin,
/// masks gradients after backward, and re-applies masks after the optimizer step.
/// </summary>
public interface ITrainingHook
{
    void OnTrainBegin(TrainContext ctx) { }
    void OnBatchBegin(TrainContext ctx) { }
    void OnAfterBackward(TrainContext ctx) { }
    void OnAfterOptimizerStep(TrainContext ctx) { }
    void OnEpochEnd(TrainContext ctx) { }
    void OnTrainEnd(TrainContext ctx) { }
}
