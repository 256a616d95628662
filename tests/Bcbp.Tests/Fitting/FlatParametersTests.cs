using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;

namespace Bcbp.Tests.Fitting;

public class FlatParametersTests
{
    [SetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    [TestCase("sgd", true)]
    [TestCase("sgd", false)]
    [TestCase("adamw", false)]
    public void TrainerStepsMatchTorchOptimizerOnSeparateParameters(string optimizer, bool nesterov)
    {
        var config = new TrainConfig { Optimizer = optimizer, Lr = 0.05, Momentum = 0.9, Nesterov = nesterov, WeightDecay = 1e-3, LrSchedule = "constant" };
        random.manual_seed(11);
        var flatModel = new TinyNet();
        random.manual_seed(11);
        var reference = new TinyNet();
        var trainer = new Trainer(flatModel, config, TrainingPhase.Dense, epochs: 1, stepsPerEpoch: 3, CPU);
        var torchOptimizer = OptimizerFactory.Create(config, reference.parameters());
        var data = new InMemorySource(48, seed: 4);
        foreach (var (x, y) in data.Batches(16, shuffle: false, augment: false, epoch: 0))
        {
            trainer.Step(x, y);
            torchOptimizer.zero_grad();
            Loss.CrossEntropy(reference.forward(x), y).backward();
            torchOptimizer.step();
        }
        var expected = reference.state_dict();
        foreach (var (name, t) in flatModel.state_dict())
            Assert.That(t.allclose(expected[name], rtol: 1e-5, atol: 1e-6), $"{name} differs from torch's {optimizer}");
    }

    [Test]
    public void ParametersBecomeViewsOfTheFlatBufferWithTheirValuesKept()
    {
        random.manual_seed(2);
        var model = new TinyNet();
        var before = model.parameters().Select(p => p.detach().clone()).ToList();
        var flat = new FlatParameters(model);
        var ps = model.parameters().ToList();
        Assert.That(flat.Flat.numel(), Is.EqualTo(ps.Sum(p => p.numel())));
        for (int i = 0; i < ps.Count; i++) Assert.That(ps[i].eq(before[i]).all().item<bool>(), $"parameter {i} kept its value");
        using (no_grad()) flat.Flat.fill_(3.0f);
        Assert.That(ps.All(p => p.eq(3.0f).all().item<bool>()), "writing the flat buffer writes every parameter");
    }
}
