using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;

namespace Bcbp.Tests.Fitting;

public class TrainerTests
{
    [SetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    /// <summary>Records the order of hook calls.</summary>
    sealed class RecordingHook : ITrainingHook
    {
        public readonly List<string> Calls = new();
        public void OnTrainBegin(TrainContext ctx) => Calls.Add("begin");
        public void OnBatchBegin(TrainContext ctx) => Calls.Add($"batch{ctx.GlobalStep}");
        public void OnAfterBackward(TrainContext ctx) => Calls.Add(ctx.Model.parameters().All(p => p.grad is not null) ? "backward" : "backward-without-grad");
        public void OnAfterOptimizerStep(TrainContext ctx) => Calls.Add("step");
        public void OnEpochEnd(TrainContext ctx) => Calls.Add($"epoch{ctx.Epoch}");
        public void OnTrainEnd(TrainContext ctx) => Calls.Add("end");
    }

    [Test]
    public void HooksRunAtTheDocumentedPointsAndLearningImprovesAccuracy()
    {
        random.manual_seed(0);
        var model = new TinyNet();
        var hook = new RecordingHook();
        var data = new InMemorySource(64, seed: 1);
        var trainer = new Trainer(model, new TrainConfig { Lr = 0.1, LrSchedule = "constant" }, TrainingPhase.Dense, epochs: 2,
            stepsPerEpoch: 2, CPU, new[] { hook });
        var before = Evaluator.Evaluate(model, data, 64);
        var result = trainer.Fit(data, data, new FitOptions { BatchSize = 32 });

        Assert.That(hook.Calls, Is.EqualTo(new[]
        {
            "begin", "batch0", "backward", "step", "batch1", "backward", "step", "epoch0",
            "batch2", "backward", "step", "batch3", "backward", "step", "epoch1", "end",
        }));
        Assert.That(result.State.GlobalStep, Is.EqualTo(4));
        Assert.That(result.Last!.Top1, Is.GreaterThan(before.Top1));
    }

    [Test]
    public void EvaluatorCountsTopOneAndTopFiveAgainstHandLabels()
    {
        // Fixed logits: sample 0 correct at rank 1, sample 1 correct at rank 2, sample 2 correct at rank 6 of 6.
        var logits = tensor(new float[,] { { 9, 1, 2, 3, 4, 5 }, { 1, 9, 8, 3, 4, 5 }, { 0, 1, 2, 3, 4, 5 } });
        var source = new FixedSource(logits, tensor(new long[] { 0, 2, 0 }));
        var m = Evaluator.Evaluate(new Identity(), source, batchSize: 2);
        Assert.That(m.Top1, Is.EqualTo(100.0 / 3).Within(1e-9));
        Assert.That(m.Top5, Is.EqualTo(200.0 / 3).Within(1e-9));
        double expectedLoss = nn.functional.cross_entropy(logits, tensor(new long[] { 0, 2, 0 })).item<float>();
        Assert.That(m.Loss, Is.EqualTo(expectedLoss).Within(1e-5));
    }

    [Test]
    public void NesterovWithoutMomentumAndUnknownOptimizerAreRejected()
    {
        var model = new TinyNet();
        Assert.That(() => new Trainer(model, new TrainConfig { Nesterov = true, Momentum = 0 }, TrainingPhase.Dense, 1, 1, CPU),
            Throws.ArgumentException.With.Message.Contains("train.nesterov"));
        Assert.That(() => new Trainer(model, new TrainConfig { Optimizer = "lion" }, TrainingPhase.Dense, 1, 1, CPU),
            Throws.ArgumentException.With.Message.Contains("train.optimizer"));
    }

    sealed class Identity() : nn.Module<Tensor, Tensor>("identity")
    {
        public override Tensor forward(Tensor x) => x.alias();
    }

    sealed class FixedSource(Tensor x, Tensor y) : Bcbp.Training.Data.IBatchSource
    {
        public int Count => (int)y.shape[0];
        public int NumClasses => (int)x.shape[1];
        public int Channels => 1;
        public (int Height, int Width) ImageSize => (1, 1);
        public IEnumerable<(Tensor Input, Tensor Target)> Batches(int batchSize, bool shuffle, bool augment, int epoch)
        {
            for (int i = 0; i < Count; i += batchSize)
            {
                int n = Math.Min(batchSize, Count - i);
                yield return (x.narrow(0, i, n), y.narrow(0, i, n));
            }
        }
    }
}
