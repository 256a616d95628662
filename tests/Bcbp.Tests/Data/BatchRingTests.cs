using Bcbp.Training.Data;

namespace Bcbp.Tests.Data;

/// <summary>The ring of batch slots: a slot goes to a batch only once its previous batch is released and idle.</summary>
public class BatchRingTests
{
    [Test]
    public void NeverHandsOutASlotWhoseBatchIsStillInUse()
    {
        const int depth = 3, batches = 60, perBatch = 5, threads = 6;
        var owner = new long[depth];          // the batch whose data the slot holds, -1 none
        var released = new bool[batches];
        var idleChecks = new int[batches];
        Array.Fill(owner, -1);
        var content = new long[depth, perBatch];
        var done = new int[batches];
        var ring = new BatchRing(depth, slot =>
        {
            // The idle wait runs while the slot's previous batch is released: that batch's data may now be overwritten.
            long previous = owner[slot];
            Assert.That(previous < 0 || released[previous], Is.True, $"slot {slot} reused while batch {previous} is held");
        });
        int next = -1;
        var failures = new List<Exception>();
        void Work()
        {
            try
            {
                while (true)
                {
                    int image = Interlocked.Increment(ref next);
                    if (image >= batches * perBatch) return;
                    int batch = image / perBatch, slot = ring.Acquire(batch);
                    if (slot < 0) return;
                    lock (owner)
                    {
                        if (owner[slot] != batch) { Interlocked.Increment(ref idleChecks[batch]); owner[slot] = batch; }
                    }
                    Thread.SpinWait(200 + image * 37 % 1000);
                    content[slot, image % perBatch] = batch;
                    Interlocked.Increment(ref done[batch]);
                }
            }
            catch (Exception e) { lock (failures) failures.Add(e); }
        }
        var workers = Enumerable.Range(0, threads).Select(_ => new Thread(Work)).ToArray();
        foreach (var t in workers) t.Start();
        for (int b = 0; b < batches; b++)
        {
            SpinWait.SpinUntil(() => Volatile.Read(ref done[b]) == perBatch || failures.Count > 0);
            Assert.That(failures, Is.Empty);
            Thread.SpinWait(500 * (b % 4)); // a consumer that is sometimes slow: producers must wait, not overwrite
            for (int i = 0; i < perBatch; i++)
                Assert.That(content[b % depth, i], Is.EqualTo(b), $"batch {b} image {i} was overwritten before its release");
            Assert.That(ring.Released, Is.EqualTo(b));
            released[b] = true;
            ring.Release(b);
        }
        foreach (var t in workers) t.Join();
        Assert.That(failures, Is.Empty);
        Assert.That(idleChecks, Is.All.EqualTo(1), "each batch takes its slot once");
    }

    [Test]
    public void AcquireBlocksUntilTheSlotIsReleasedAndCancelWakesIt()
    {
        var ring = new BatchRing(2, _ => { });
        Assert.That((ring.Acquire(0), ring.Acquire(1), ring.Acquire(0)), Is.EqualTo((0, 1, 0)));
        var waiting = Task.Run(() => ring.Acquire(2));
        Assert.That(waiting.Wait(100), Is.False, "batch 2 needs slot 0, which batch 0 holds");
        ring.Release(0);
        Assert.That(waiting.Wait(5000) && waiting.Result == 0, Is.True);
        var blocked = Task.Run(() => ring.Acquire(4));
        Assert.That(blocked.Wait(100), Is.False);
        ring.Cancel();
        Assert.That(blocked.Wait(5000) && blocked.Result == -1, Is.True);
        Assert.Throws<InvalidOperationException>(() => ring.Release(5));
    }

    [Test]
    public void AFailedSlotWaitReachesTheConsumerAsItsErrorAndNothingHangs()
    {
        // A CUDA error in the idle wait (a decoding thread's cuEventSynchronize) must end the epoch with that error.
        int calls = 0;
        var ring = new BatchRing(2, slot => { if (Interlocked.Increment(ref calls) == 3) throw new InvalidOperationException("sticky CUDA error"); });
        using var pass = new DecodePass(3, 4, new[] { 4, 4, 4, 4 }, ring, (image, slot, index) => Thread.Sleep(1), (batch, slot, count) => { });
        var consumer = Task.Run(() =>
        {
            for (int k = 0; k < 4; k++) { pass.WaitFor(k); pass.Release(k); }
        });
        var e = Assert.Throws<AggregateException>(() => consumer.Wait(10_000));
        Assert.That(e!.InnerException, Is.InstanceOf<InvalidOperationException>().With.Message.Contains("sticky CUDA error"));
    }

    [Test]
    public void AnEnumeratorWhosePassWasStoppedEndsInsteadOfWaiting()
    {
        var ring = new BatchRing(1, _ => { });
        var gate = new ManualResetEventSlim();
        var pass = new DecodePass(1, 2, new[] { 2, 2 }, ring, (image, slot, index) => gate.Wait(), (batch, slot, count) => { });
        var waiting = Task.Run(() => pass.WaitFor(0));
        Assert.That(waiting.Wait(100), Is.False);
        var stopping = Task.Run(pass.Dispose);   // cancels at once, then joins the worker (held by the gate)
        var e = Assert.Throws<AggregateException>(() => waiting.Wait(10_000), "the waiting consumer is woken by the cancel");
        Assert.That(e!.InnerException, Is.InstanceOf<ObjectDisposedException>());
        gate.Set();
        Assert.That(stopping.Wait(10_000), Is.True);
    }
}
