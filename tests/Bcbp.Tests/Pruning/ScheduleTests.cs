using Bcbp.Training.Config;
using Bcbp.Training.Pruning.Schedule;

namespace Bcbp.Tests.Pruning;

/// <summary>The sparsity schedule: cubic (Zhu and Gupta 2017), linear and one-shot, and when masks update.</summary>
public class ScheduleTests
{
    static SparsitySchedule Make(string kind, double initial = 0.0, int start = 1, int end = 3, int frequency = 10) =>
        new(new ScheduleConfig { Kind = kind, Initial = initial, StartEpoch = start, EndEpoch = end, Frequency = frequency }, 0.8, stepsPerEpoch: 100);

    [Test]
    public void CubicStartsAtInitialEndsAtFinalAndFollowsZhuGuptaInBetween()
    {
        var s = Make("cubic", initial: 0.1);
        Assert.That(s.SparsityAt(0), Is.EqualTo(0.0), "before start_epoch nothing is pruned");
        Assert.That(s.SparsityAt(100), Is.EqualTo(0.1).Within(1e-12));
        // Middle: t - t0 = 100 of 200 steps: s_f + (s_i - s_f) * (1 - 0.5)^3 = 0.8 - 0.7 / 8.
        Assert.That(s.SparsityAt(200), Is.EqualTo(0.8 - 0.7 / 8).Within(1e-12));
        Assert.That(s.SparsityAt(150), Is.EqualTo(0.8 - 0.7 * Math.Pow(0.75, 3)).Within(1e-12));
        Assert.That(s.SparsityAt(300), Is.EqualTo(0.8).Within(1e-12));
        Assert.That(s.SparsityAt(10_000), Is.EqualTo(0.8).Within(1e-12));
    }

    [Test]
    public void LinearInterpolatesAndOneShotJumps()
    {
        Assert.That(Make("linear").SparsityAt(200), Is.EqualTo(0.4).Within(1e-12));
        var oneShot = Make("one_shot");
        Assert.That(oneShot.SparsityAt(99), Is.EqualTo(0.0));
        Assert.That(oneShot.SparsityAt(100), Is.EqualTo(0.8));
    }

    [Test]
    public void CubicIsMonotoneAndUpdatesEveryFrequencyStepsAndAtTheEnd()
    {
        var s = Make("cubic", frequency: 30);
        double last = -1;
        for (long t = 0; t < 400; t++)
        {
            Assert.That(s.SparsityAt(t), Is.GreaterThanOrEqualTo(last));
            last = s.SparsityAt(t);
        }
        var updates = Enumerable.Range(0, 301).Where(t => s.IsUpdateStep(t)).ToArray();
        Assert.That(updates.Take(8), Is.EqualTo(new[] { 100, 130, 160, 190, 220, 250, 280, 300 }));
    }
}
