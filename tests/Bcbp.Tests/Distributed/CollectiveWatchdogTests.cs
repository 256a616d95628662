using Bcbp.Training.Distributed;

namespace Bcbp.Tests.Distributed;

/// <summary>The NCCL watchdog's logic with an injected clock, completion poll and asynchronous error (no GPU): pending
/// work past the timeout fails once with one line, idle time and re-marked work do not, NCCL's error fails at once.</summary>
public class CollectiveWatchdogTests
{
    TimeSpan _now;
    bool _completed;
    string? _asyncError;
    readonly List<string> _failures = new();

    CollectiveWatchdog Make() => new(TimeSpan.FromSeconds(10), () => _now, () => _completed, () => _asyncError, _failures.Add, "rank 1 of 2");

    [SetUp] public void Reset() { _now = TimeSpan.Zero; _completed = false; _asyncError = null; _failures.Clear(); }

    [Test]
    public void NothingMarkedNeverTimesOut()
    {
        var dog = Make();
        _now = TimeSpan.FromHours(5);
        Assert.That(dog.Check(), Is.True);
        Assert.That(_failures, Is.Empty);
    }

    [Test]
    public void WorkPendingPastTheTimeoutFailsOnceWithOneLine()
    {
        var dog = Make();
        dog.Marked();
        _now = TimeSpan.FromSeconds(9);
        Assert.That(dog.Check(), Is.True, "within the timeout");
        _now = TimeSpan.FromSeconds(12);
        Assert.That(dog.Check(), Is.False);
        Assert.That(dog.Check(), Is.False);
        Assert.That(_failures, Is.EqualTo(new[]
        {
            "error: rank 1 of 2: a collective has not completed after 12 s (BCBP_DIST_TIMEOUT is 10 s): another rank has stopped " +
            "or hangs; check every rank's output (or raise BCBP_DIST_TIMEOUT). Stopping.",
        }));
        Assert.That(dog.Failed);
    }

    [Test]
    public void CompletedWorkAndIdleTimeNeverTimeOut()
    {
        var dog = Make();
        dog.Marked();
        _completed = true;
        _now = TimeSpan.FromHours(1); // a long evaluation without collectives
        Assert.That(dog.Check(), Is.True);
        Assert.That(_failures, Is.Empty);
    }

    [Test]
    public void EveryMarkRestartsTheWait()
    {
        var dog = Make();
        dog.Marked();
        for (int s = 5; s <= 60; s += 5)
        {
            _now = TimeSpan.FromSeconds(s);
            dog.Marked(); // a new step's collective, queued while the last is still pending
            Assert.That(dog.Check(), Is.True, $"at {s} s");
        }
        _now = TimeSpan.FromSeconds(71);
        Assert.That(dog.Check(), Is.False);
        Assert.That(_failures.Single(), Does.Contain("after 11 s"));
    }

    [Test]
    public void NcclsAsynchronousErrorFailsAtOnce()
    {
        var dog = Make();
        _asyncError = "remote process exited or there was a network error (ncclResult 6)";
        Assert.That(dog.Check(), Is.False);
        Assert.That(_failures.Single(), Does.StartWith("error: rank 1 of 2: NCCL reported an asynchronous error: remote process exited"));
    }

    [Test]
    public void ItsThreadPollsUntilACheckFails()
    {
        using var failed = new ManualResetEventSlim();
        int polls = 0;
        using var dog = new CollectiveWatchdog(TimeSpan.FromSeconds(10), () => TimeSpan.FromSeconds(Interlocked.Increment(ref polls)),
            () => false, () => null, _ => failed.Set(), "rank 0 of 2");
        dog.Marked();
        dog.Start(TimeSpan.FromMilliseconds(1));
        Assert.That(failed.Wait(TimeSpan.FromMinutes(2)), Is.True, "the thread's polls reached the timeout on the injected clock");
        Assert.That(dog.Failed);
    }
}
