using System.Text;
using Bcbp.Training.Distributed;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Distributed;

/// <summary>The rendezvous store on loopback with several clients in threads of this process (the launcher's tests
/// use child processes).</summary>
public class TcpStoreTests
{
    static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="body"/> as ranks 0..n-1 in threads, each with its own client; rethrows the first error.</summary>
    static T[] Ranks<T>(TcpStoreServer server, int n, Func<int, TcpStore, T> body)
    {
        var results = new T[n];
        var errors = new Exception?[n];
        var threads = Enumerable.Range(0, n).Select(r => new Thread(() =>
        {
            try
            {
                using var store = TcpStore.Connect("127.0.0.1", server.Port, Long, $"rank {r} of {n}");
                results[r] = body(r, store);
            }
            catch (Exception e) { errors[r] = e; }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (errors.FirstOrDefault(e => e is not null) is { } first) throw first;
        return results;
    }

    [Test]
    public void ClientsExchangeValuesCountAtomicallyAndMeetAtBarriers()
    {
        using var server = new TcpStoreServer(0);
        var seen = Ranks(server, 4, (rank, store) =>
        {
            store.Set($"hello/{rank}", Encoding.UTF8.GetBytes($"from {rank}"));
            // Get waits until the other rank has set its key.
            string other = Encoding.UTF8.GetString(store.Get($"hello/{(rank + 1) % 4}"));
            long ticket = store.Add("counter", 1);
            store.Barrier(4);
            long after = BitConverter.ToInt64(store.Get("counter"));
            store.Barrier(4);
            store.Wait("hello/0", "hello/1", "hello/2", "hello/3");
            return (other, ticket, after);
        });
        Assert.That(seen.Select(s => s.other), Is.EqualTo(new[] { "from 1", "from 2", "from 3", "from 0" }));
        Assert.That(seen.Select(s => s.ticket).Order(), Is.EqualTo(new long[] { 1, 2, 3, 4 }), "each add sees its own count");
        Assert.That(seen.Select(s => s.after), Is.All.EqualTo(4), "after the barrier every rank sees every add");
    }

    [Test]
    public void AWaitThatNobodyAnswersTimesOutNamingTheKeyAndTheRank()
    {
        using var server = new TcpStoreServer(0);
        using var store = TcpStore.Connect("127.0.0.1", server.Port, TimeSpan.FromSeconds(0.3), "rank 1 of 2");
        var e = Assert.Throws<StoreTimeoutException>(() => store.Get(NcclCollective.UniqueIdKey))!;
        Assert.That(e.Message, Does.Contain("rank 1 of 2").And.Contain("'nccl/unique_id'").And.Contain($"127.0.0.1:{server.Port}"));
        // The connection still works after a timeout.
        store.Set("k", new byte[] { 7 });
        Assert.That(store.Get("k"), Is.EqualTo(new byte[] { 7 }));
    }

    [Test]
    public void ConnectingToNoStoreTimesOutNamingTheAddress()
    {
        int port;
        using (var s = new TcpStoreServer(0)) port = s.Port; // a port nothing listens on any more
        var e = Assert.Throws<StoreTimeoutException>(() => TcpStore.Connect("127.0.0.1", port, TimeSpan.FromSeconds(0.5), "rank 3 of 4"))!;
        Assert.That(e.Message, Does.Contain("rank 3 of 4 could not reach rank 0's store at 127.0.0.1:" + port).And.Contain("MASTER_ADDR/MASTER_PORT"));
    }

    [Test]
    public void ATakenPortIsOneLineNamingMasterPort()
    {
        using var first = new TcpStoreServer(0);
        var e = Assert.Throws<IOException>(() => new TcpStoreServer(first.Port))!;
        Assert.That(e.Message, Does.Contain($"port {first.Port}").And.Contain("MASTER_PORT"));
    }

    [Test]
    public void ARankWhoseStoreStopsGetsAnErrorSayingRankZeroExited()
    {
        var server = new TcpStoreServer(0);
        using var store = TcpStore.Connect("127.0.0.1", server.Port, Long, "rank 1 of 2");
        store.Set("a", new byte[] { 1 });
        server.Dispose();
        var e = Assert.Throws<IOException>(() => store.Get("never"))!;
        Assert.That(e.Message, Does.Contain("closed the connection of rank 1 of 2").And.Contain("rank 0 has exited"));
    }

    /// <summary>Sends <paramref name="bytes"/> on a raw connection to the server and closes it.</summary>
    static void SendRaw(int port, byte[] bytes)
    {
        using var raw = new System.Net.Sockets.TcpClient("127.0.0.1", port);
        var stream = raw.GetStream();
        stream.Write(bytes);
        stream.Flush();
        raw.Client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        // Wait for the server to drop us (a read of 0 bytes), so the junk was processed before the next check.
        var buffer = new byte[256];
        try { while (stream.Read(buffer) > 0) { } } catch (IOException) { }
    }

    static byte[] Request(Action<BinaryWriter> write)
    {
        var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true)) write(w);
        return ms.ToArray();
    }

    [Test]
    public void JunkOnAConnectionDropsThatConnectionOnlyAndTheStoreGoesOn()
    {
        using var server = new TcpStoreServer(0);
        var junk = new List<byte[]>
        {
            Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), // not our protocol at all
            Request(w => { w.Write((byte)1); w.Write("k"); w.Write(1000); w.Write(new byte[10]); }), // a Set cut short
            Request(w => { w.Write((byte)1); w.Write("k"); w.Write(-5); }), // a negative length
            Request(w => { w.Write((byte)4); w.Write(int.MaxValue); }), // a Wait for 2^31 keys
            Request(w => { w.Write((byte)2); w.Write((byte)0xff); w.Write((byte)0xff); w.Write((byte)0xff); w.Write((byte)0xff); w.Write((byte)0x7f); }), // a bad string length
            new byte[] { 1 }, // a lone op byte
        };
        var rng = new Random(5);
        for (int i = 0; i < 20; i++) { var b = new byte[rng.Next(1, 200)]; rng.NextBytes(b); junk.Add(b); }
        foreach (var bytes in junk) SendRaw(server.Port, bytes);

        using var store = TcpStore.Connect("127.0.0.1", server.Port, Long, "rank 1 of 2");
        store.Set("after", new byte[] { 7, 8 });
        Assert.That(store.Get("after"), Is.EqualTo(new byte[] { 7, 8 }), "the store still serves its ranks");
        Assert.That(server.KeyCount, Is.EqualTo(1), "the cut-short Set stored nothing");
    }

    [Test]
    public void AReplyCutShortIsAClearErrorNotAShortValue()
    {
        // A "store" that answers a Get with a value of 100 bytes, sends 10 and closes.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var fake = new Thread(() =>
        {
            using var c = listener.AcceptTcpClient();
            var stream = c.GetStream();
            var r = new BinaryReader(stream);
            r.ReadByte(); r.ReadString(); // the handshake: the job's id, answered as a store does
            stream.Write(Request(w => { w.Write((byte)0); w.Write("fake-job"); }));
            r.ReadByte(); r.ReadString(); r.ReadInt64(); // the Get request
            stream.Write(Request(w => { w.Write((byte)0); w.Write(100); w.Write(new byte[10]); }));
            stream.Flush();
        });
        fake.Start();
        try
        {
            using var store = TcpStore.Connect("127.0.0.1", port, Long, "rank 1 of 2");
            var e = Assert.Throws<IOException>(() => store.Get(NcclCollective.UniqueIdKey))!;
            Assert.That(e.Message, Does.Contain($"during '{NcclCollective.UniqueIdKey}'").And.Contain("the connection ended after 10 of the value's 100 bytes"));
        }
        finally
        {
            fake.Join();
            listener.Stop();
        }
    }

    [Test]
    public void StoreCollectiveSumsAveragesAndBroadcastsLikeOneProcessAndCleansUp()
    {
        using var server = new TcpStoreServer(0);
        const int n = 3;
        var results = Ranks(server, n, (rank, store) =>
        {
            using var c = new StoreCollective(store, rank, n);
            var f = tensor(new float[] { rank, 10 * rank + 1 });
            var i = tensor(new long[] { rank + 1 });
            c.AllReduce(new[] { f, i }, ReduceOp.Sum);
            var avg = full(2, (float)rank);
            c.AllReduce(new[] { avg }, ReduceOp.Average);
            var b = tensor(new double[] { rank, -rank });
            c.Broadcast(new[] { b }, 1);
            c.Barrier();
            return (f.data<float>().ToArray(), i.item<long>(), avg.data<float>().ToArray(), b.data<double>().ToArray());
        });
        foreach (var (f, i, avg, b) in results)
        {
            Assert.That(f, Is.EqualTo(new float[] { 0 + 1 + 2, 1 + 11 + 21 }));
            Assert.That(i, Is.EqualTo(6));
            Assert.That(avg, Is.EqualTo(new float[] { 1, 1 }));
            Assert.That(b, Is.EqualTo(new double[] { 1, -1 }));
        }
        Assert.That(server.KeyCount, Is.LessThanOrEqualTo(2), "the collectives' keys are deleted (only the last barrier's remain)");
    }

    [Test]
    public void AClientOfAnotherJobIsRefusedAndOneWithoutAnIdLearnsTheStoresJob()
    {
        // Job a's store on a fixed port; a rank of job b (its launcher gave it another BCBP_JOB_ID) reaches it.
        using var server = new TcpStoreServer(0, "job-a");
        var e = Assert.Throws<InvalidOperationException>(() => TcpStore.Connect("127.0.0.1", server.Port, Long, "rank 1 of 2", "job-b"))!;
        Assert.That(e.Message, Does.StartWith("rendezvous: rank 1 of 2 belongs to job 'job-b' but the store at 127.0.0.1:")
            .And.Contain("serves job 'job-a'").And.Contain("MASTER_PORT"));
        Assert.That(e.Message.Split('\n'), Has.Length.EqualTo(1));
        // The store is unharmed; a client without an id joins the store's job and shares its keys.
        using var named = TcpStore.Connect("127.0.0.1", server.Port, Long, "rank 0 of 2", "job-a");
        using var learnt = TcpStore.Connect("127.0.0.1", server.Port, Long, "rank 1 of 2");
        Assert.That((named.JobId, learnt.JobId), Is.EqualTo(("job-a", "job-a")));
        named.Set("k", new byte[] { 7 });
        Assert.That(learnt.Get("k"), Is.EqualTo(new byte[] { 7 }));
        // Without an id the server makes a fresh one per store: a second job's store never shares the first's.
        using var other = new TcpStoreServer(0);
        using var fresh = new TcpStoreServer(0);
        Assert.That(other.JobId, Is.Not.Empty.And.Not.EqualTo(fresh.JobId));
    }

    [Test]
    public void TheJobIdIsTheLaunchersElseTorchrunsElseSlurms()
    {
        string? Of(params (string Name, string Value)[] vars) => DistributedEnv.JobId(n => vars.FirstOrDefault(v => v.Name == n).Value);
        Assert.That(Of(("BCBP_JOB_ID", "b"), ("TORCHELASTIC_RUN_ID", "t"), ("SLURM_JOB_ID", "s")), Is.EqualTo("b"));
        Assert.That(Of(("TORCHELASTIC_RUN_ID", "t"), ("SLURM_JOB_ID", "s")), Is.EqualTo("t"));
        Assert.That(Of(("SLURM_JOB_ID", "s"), ("BCBP_JOB_ID", " ")), Is.EqualTo("s"));
        Assert.That(Of(), Is.Null);
    }

    [Test]
    public void InProcessGroupGivesEveryRankTheSameSum()
    {
        using var group = new InProcessGroup(2);
        var outs = new float[2][];
        var threads = Enumerable.Range(0, 2).Select(r => new Thread(() =>
        {
            var c = group.For(r);
            var t = tensor(new float[] { 0.1f * (r + 1), 1e8f * r + 1 });
            c.AllReduce(new[] { t }, ReduceOp.Average);
            outs[r] = t.data<float>().ToArray();
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.That(outs[0], Is.EqualTo(outs[1]), "bit for bit the same on both ranks");
        Assert.That(outs[0][0], Is.EqualTo(0.15f).Within(1e-7));
    }
}
