using Bcbp.Training.Backend;
using static TorchSharp.torch;

namespace Bcbp.Tests.Backend;

/// <summary>The timing rule's bookkeeping (not its speed): who is called how often, in which order.</summary>
public class ForwardTimerTests
{
    [SetUp] public void Init() => TorchBackend.Initialize("cpu");

    [Test]
    public void EachFunctionRunsWarmupPlusItersCallsInWindowsTakingTurns()
    {
        var calls = new List<char>();
        Tensor A() { calls.Add('a'); return zeros(1); }
        Tensor B() { calls.Add('b'); return zeros(1); }
        var ms = ForwardTimer.MedianMs(new Func<Tensor>[] { A, B }, warmup: 2, iters: 7, CPU);
        Assert.That(ms, Has.Length.EqualTo(2).And.All.GreaterThanOrEqualTo(0));
        // warm-up a a b b, then 5 windows of 2, 2, 1, 1, 1 calls, A's window before B's
        Assert.That(new string(calls.ToArray()), Is.EqualTo("aabb" + "aabb" + "aabb" + "ab" + "ab" + "ab"));
    }

    [Test]
    public void FewerItersThanWindowsGiveOneCallPerWindow()
    {
        int n = 0;
        ForwardTimer.MedianMs(new Func<Tensor>[] { () => { n++; return zeros(1); } }, warmup: 0, iters: 2, CPU);
        Assert.That(n, Is.EqualTo(2));
    }

    [Test]
    public void ZeroItersIsAnError() =>
        Assert.That(() => ForwardTimer.MedianMs(new Func<Tensor>[] { () => zeros(1) }, 3, 0, CPU),
            Throws.ArgumentException.With.Message.Contains("--iters"));
}
