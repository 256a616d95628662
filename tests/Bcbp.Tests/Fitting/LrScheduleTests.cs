using Bcbp.Training.Config;
using Bcbp.Training.Fitting;

namespace Bcbp.Tests.Fitting;

public class LrScheduleTests
{
    [Test]
    public void CosineFollowsHalfCosineFromBaseToZero()
    {
        var s = new LrSchedule("cosine", 0.1, totalSteps: 100, warmupSteps: 0, Array.Empty<long>(), 0.1);
        Assert.That(s.At(0), Is.EqualTo(0.1).Within(1e-12));
        Assert.That(s.At(50), Is.EqualTo(0.05).Within(1e-12));
        Assert.That(s.At(25), Is.EqualTo(0.1 * 0.5 * (1 + Math.Cos(Math.PI / 4))).Within(1e-12));
        Assert.That(s.At(100), Is.EqualTo(0).Within(1e-12));
    }

    [Test]
    public void WarmupRampsLinearlyThenCosineStartsAtBase()
    {
        var s = new LrSchedule("cosine", 0.2, totalSteps: 110, warmupSteps: 10, Array.Empty<long>(), 0.1);
        Assert.That(s.At(0), Is.EqualTo(0.02).Within(1e-12));
        Assert.That(s.At(4), Is.EqualTo(0.1).Within(1e-12));
        Assert.That(s.At(9), Is.EqualTo(0.2).Within(1e-12));
        Assert.That(s.At(10), Is.EqualTo(0.2).Within(1e-12));
        Assert.That(s.At(60), Is.EqualTo(0.1).Within(1e-12));
    }

    [Test]
    public void StepDecaysByGammaAtEachMilestone()
    {
        var s = new LrSchedule("step", 1.0, 100, 0, new long[] { 50, 75 }, 0.1);
        Assert.That(new[] { s.At(0), s.At(49), s.At(50), s.At(74), s.At(75), s.At(99) },
            Is.EqualTo(new[] { 1.0, 1.0, 0.1, 0.1, 0.01, 0.01 }).Within(1e-12));
    }

    [Test]
    public void FromConfigConvertsEpochsToStepsAndDefaultsMilestonesToHalfAndThreeQuarters()
    {
        var s = LrSchedule.FromConfig(new TrainConfig { Lr = 0.4, LrSchedule = "step", WarmupEpochs = 1 }, epochs: 8, stepsPerEpoch: 10);
        Assert.That(s.At(0), Is.EqualTo(0.04).Within(1e-12));
        Assert.That(s.At(39), Is.EqualTo(0.4).Within(1e-12));
        Assert.That(s.At(40), Is.EqualTo(0.04).Within(1e-12));
        Assert.That(s.At(60), Is.EqualTo(0.004).Within(1e-12));
        var constant = LrSchedule.FromConfig(new TrainConfig { Lr = 0.3, LrSchedule = "constant" }, 5, 7);
        Assert.That(constant.At(34), Is.EqualTo(0.3));
    }

    [Test]
    public void UnknownKindAndOverlongWarmupAreRejectedWithTheKey()
    {
        Assert.That(() => new LrSchedule("poly", 0.1, 10, 0, Array.Empty<long>(), 0.1),
            Throws.ArgumentException.With.Message.Contains("train.lr_schedule"));
        Assert.That(() => LrSchedule.FromConfig(new TrainConfig { WarmupEpochs = 5 }, epochs: 3, stepsPerEpoch: 10),
            Throws.ArgumentException.With.Message.Contains("train.warmup_epochs"));
    }
}
