using System.Net;
using System.Net.Sockets;
using Bcbp.Training.Distributed;
using static TorchSharp.torch;

namespace Bcbp.Tests.Distributed;

/// <summary>The teardown of a job's membership with ranks as threads of this process (CPU: the store collective): a
/// rank that fails tells the others, so a rank waiting in <see cref="ProcessGroup.Finish"/> fails at once instead of
/// waiting out the store's timeout, whichever rank failed.</summary>
public class ProcessGroupTests
{
    [SetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    /// <summary>Far longer than the test takes: a rank that waits it out would fail with a <see cref="StoreTimeoutException"/>.</summary>
    static readonly TimeSpan Long = TimeSpan.FromSeconds(300);

    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Two thread ranks join; <paramref name="failing"/> throws after joining (its group disposed without
    /// Finish), the other calls Finish. Returns what each rank threw.</summary>
    static Exception?[] FailOneRank(int failing)
    {
        int port = FreePort();
        var errors = new Exception?[2];
        var threads = Enumerable.Range(0, 2).Select(rank => new Thread(() =>
        {
            try
            {
                using var group = ProcessGroup.Join(new DistributedEnv("127.0.0.1", port, 2, rank, rank, 2), CPU, null, Long);
                if (rank == failing) throw new IOException("disk full while writing model.safetensors");
                group.Finish();
            }
            catch (Exception e) { errors[rank] = e; }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        return errors;
    }

    [Test]
    public void WhenRankZeroFailsAfterTrainingTheOthersLeaveFinishAtOnce()
    {
        var errors = FailOneRank(failing: 0);
        Assert.That(errors[0]!.Message, Does.StartWith("disk full"), "rank 0's own error is the one it reports");
        Assert.That(errors[1], Is.Not.Null.And.Not.InstanceOf<StoreTimeoutException>());
        Assert.That(errors[1]!.Message, Does.Contain("rank 0"), "rank 1 names the rank that failed");
    }

    [Test]
    public void WhenAnotherRankFailsRankZeroLeavesFinishAtOnce()
    {
        var errors = FailOneRank(failing: 1);
        Assert.That(errors[1]!.Message, Does.StartWith("disk full"));
        Assert.That(errors[0], Is.InstanceOf<InvalidOperationException>());
        Assert.That(errors[0]!.Message, Is.EqualTo("rank 1 of the job failed (its output says why); rank 0 stops too."));
    }

    [Test]
    public void RanksThatAllFinishMeetAndCloseCleanly()
    {
        int port = FreePort();
        var errors = new Exception?[3];
        var threads = Enumerable.Range(0, 3).Select(rank => new Thread(() =>
        {
            try
            {
                using var group = ProcessGroup.Join(new DistributedEnv("127.0.0.1", port, 3, rank, rank, 3), CPU, null, Long);
                using var t = full(2, (float)rank);
                group.Collective.AllReduce(new[] { t }, ReduceOp.Sum);
                Assert.That(t.data<float>().ToArray(), Is.EqualTo(new[] { 3f, 3f }));
                group.Finish();
            }
            catch (Exception e) { errors[rank] = e; }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.That(errors, Is.All.Null);
    }
}
