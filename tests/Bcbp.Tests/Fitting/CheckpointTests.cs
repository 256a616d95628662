using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Training.Config;
using Bcbp.Training.Data;
using Bcbp.Training.Fitting;

namespace Bcbp.Tests.Fitting;

public class CheckpointTests
{
    string _dir = "";

    [SetUp]
    public void Init()
    {
        Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
        _dir = Directory.CreateTempSubdirectory("bcbp-ckpt-").FullName;
    }

    [TearDown] public void Clean() => Directory.Delete(_dir, recursive: true);

    static Trainer NewTrainer(nn.Module<Tensor, Tensor> model, string optimizer = "sgd") => new(model,
        new TrainConfig { Optimizer = optimizer, Lr = 0.05, Momentum = 0.9, Nesterov = optimizer == "sgd", WeightDecay = 5e-4, LabelSmoothing = 0.1 },
        TrainingPhase.Dense, epochs: 2, stepsPerEpoch: 4, CPU);

    [Test]
    public void RoundTripRestoresParametersBuffersOptimizerStateAndHeader()
    {
        random.manual_seed(1);
        var model = new TinyNet();
        model.register_buffer("weight_mask", ones(3, 3));
        var trainer = NewTrainer(model);
        var data = new InMemorySource(64, seed: 2);
        var fit = trainer.Fit(data, data, new FitOptions { BatchSize = 16 });
        var path = Path.Combine(_dir, "checkpoint.bin");
        var state = fit.State with { DenseTop1 = 12.5, ConfigHash = "abc" };
        Checkpoint.Save(path, state, model, trainer.Optimizer);

        random.manual_seed(99);
        var other = new TinyNet();
        other.register_buffer("weight_mask", zeros(3, 3));
        var otherTrainer = NewTrainer(other);
        var loaded = Checkpoint.Load(path, other, otherTrainer.Optimizer);

        Assert.That(loaded.Epoch, Is.EqualTo(2));
        Assert.That(loaded.GlobalStep, Is.EqualTo(8));
        Assert.That(loaded.DenseTop1, Is.EqualTo(12.5));
        Assert.That(loaded.History.Select(h => h.TestTop1), Is.EqualTo(state.History.Select(h => h.TestTop1)));
        var expected = model.state_dict();
        foreach (var (name, t) in other.state_dict())
            Assert.That(Same(t, expected[name]), $"{name} differs after load");
        Assert.That(File.Exists(path + ".tmp"), Is.False, "the temporary file is renamed away");
        // Momentum buffers came back: one more identical step keeps both models identical.
        trainer.Context.GlobalStep = otherTrainer.Context.GlobalStep = 3; // a step with lr > 0
        var (x, y) = data.Batches(16, false, false, 0).First();
        trainer.Step(x, y);
        otherTrainer.Step(x, y);
        foreach (var (name, t) in other.state_dict())
            Assert.That(Same(t, model.state_dict()[name]), $"{name} differs after a step from restored state");
    }

    [Test]
    public void LoadingIntoAnotherModelOrAForeignFileFailsWithTheFix()
    {
        random.manual_seed(1);
        var model = new TinyNet();
        var trainer = NewTrainer(model);
        var path = Path.Combine(_dir, "checkpoint.bin");
        Checkpoint.Save(path, new CheckpointState { Phase = TrainingPhase.Dense }, model, trainer.Optimizer);
        var wider = new TinyNet(numClasses: 7);
        Assert.That(() => Checkpoint.Load(path, wider, NewTrainer(wider).Optimizer),
            Throws.InstanceOf<CheckpointException>().With.Message.Contains("without --resume"));
        var junk = Path.Combine(_dir, "junk.bin");
        File.WriteAllText(junk, "not a checkpoint");
        Assert.That(() => Checkpoint.ReadState(junk), Throws.InstanceOf<CheckpointException>().With.Message.Contains("not a Bcbp checkpoint"));
        Assert.That(() => Checkpoint.ReadState(Path.Combine(_dir, "none.bin")),
            Throws.InstanceOf<FileNotFoundException>().With.Message.Contains("without --resume"));
    }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    sealed class SimulatedKill : Exception;

    [TestCase("sgd")]
    [TestCase("adamw")]
    public void ResumedRunEndsWithTheSameWeightsAsAnUninterruptedOne(string optimizer)
    {
        var data = new InMemorySource(96, seed: 3);
        var options = new FitOptions { BatchSize = 16, Seed = 7, Augment = false };

        random.manual_seed(5);
        var straight = new TinyNet();
        NewTrainer(straight, optimizer).Fit(data, data, options with { CheckpointPath = Path.Combine(_dir, "a.bin") });

        random.manual_seed(5);
        var killed = new TinyNet();
        var path = Path.Combine(_dir, "b.bin");
        Assert.That(() => NewTrainer(killed, optimizer).Fit(data, data,
            options with { CheckpointPath = path, OnEpoch = (m, _) => { if (m.Epoch == 1) throw new SimulatedKill(); } }),
            Throws.InstanceOf<SimulatedKill>());
        Assert.That(Checkpoint.ReadState(path).Epoch, Is.EqualTo(1));

        random.manual_seed(1234); // a different initialization: everything must come from the checkpoint
        var resumed = new TinyNet();
        var result = NewTrainer(resumed, optimizer).Fit(data, data, options with { CheckpointPath = path, Resume = true });

        Assert.That(result.State.History.Select(h => h.Epoch), Is.EqualTo(new[] { 1, 2 }));
        var expected = straight.state_dict();
        foreach (var (name, t) in resumed.state_dict())
            Assert.That(Same(t, expected[name]), $"{name} differs between resumed and uninterrupted runs");
    }
}
