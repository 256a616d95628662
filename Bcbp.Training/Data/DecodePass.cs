using System.Runtime.ExceptionServices;

namespace Bcbp.Training.Data;

/// <summary>
/// One pass of decoding over a list of batches by a fixed set of threads. The threads take the pass's images in order
/// from one counter (no per-batch barrier: a thread that finishes the last images of batch k goes on with batch k+1),
/// get each image's slot from the <see cref="BatchRing"/> (which holds them back when the ring is full), decode it,
/// and the thread that finishes a batch calls <c>finished</c> (labels, upload). The consumer waits for batches in
/// order with <see cref="WaitFor"/> and gives their slots back with <see cref="Release"/>. An image's error is kept
/// and thrown by <see cref="WaitFor"/> of its batch, as it was thrown (it names the file).
/// </summary>
internal sealed class DecodePass : IDisposable
{
    /// <summary>Decodes image <c>image</c> of the pass into position <c>index</c> of slot <c>slot</c>.</summary>
    public delegate void DecodeImage(int image, int slot, int index);

    readonly object _lock = new();
    readonly int _batchSize, _images;
    readonly int[] _counts, _remaining;
    readonly bool[] _done;
    readonly Exception?[] _errors;
    readonly BatchRing _ring;
    readonly DecodeImage _decode;
    readonly Action<int, int, int> _finished;
    readonly Thread[] _threads;
    int _next = -1;
    volatile bool _canceled;
    bool _failed;

    /// <param name="workers">Decoding threads.</param>
    /// <param name="batchSize">Images of every batch but the last.</param>
    /// <param name="counts">Images of each batch.</param>
    /// <param name="ring">Slots of the batches.</param>
    /// <param name="decode">Decodes one image into its slot.</param>
    /// <param name="finished">(batch, slot, count), called by the thread that decoded a batch's last image, unless
    /// one of its images failed.</param>
    public DecodePass(int workers, int batchSize, int[] counts, BatchRing ring, DecodeImage decode, Action<int, int, int> finished)
    {
        _batchSize = batchSize;
        _counts = counts;
        _remaining = (int[])counts.Clone();
        _images = counts.Sum();
        _done = new bool[counts.Length];
        _errors = new Exception?[counts.Length];
        _ring = ring;
        _decode = decode;
        _finished = finished;
        _threads = new Thread[Math.Max(1, workers)];
        for (int t = 0; t < _threads.Length; t++)
        {
            _threads[t] = new Thread(Work) { IsBackground = true, Name = $"bcbp-decode-{t}" };
            _threads[t].Start();
        }
    }

    void Work()
    {
        while (!_canceled)
        {
            int image = Interlocked.Increment(ref _next);
            if (image >= _images) return;
            int batch = image / _batchSize, index = image - batch * _batchSize;
            int slot;
            try { slot = _ring.Acquire(batch); }
            catch (Exception e)
            {
                // A driver error on this thread (e.g. a sticky CUDA fault): the consumer gets it, nobody hangs.
                lock (_lock) { _errors[batch] ??= e; _done[batch] = true; _failed = true; Monitor.PulseAll(_lock); }
                _ring.Cancel();
                return;
            }
            if (slot < 0) return;
            Exception? error = null;
            if (_errors[batch] is null)
                try { _decode(image, slot, index); }
                catch (Exception e) { error = e; }
            if (error is not null) lock (_lock) _errors[batch] ??= error;
            if (Interlocked.Decrement(ref _remaining[batch]) > 0) continue;
            if (_errors[batch] is null)
                try { _finished(batch, slot, _counts[batch]); }
                catch (Exception e) { lock (_lock) _errors[batch] ??= e; }
            lock (_lock) { _done[batch] = true; Monitor.PulseAll(_lock); }
        }
    }

    /// <summary>Blocks until batch <paramref name="batch"/> is decoded (and uploaded); throws its first error.</summary>
    public void WaitFor(int batch)
    {
        lock (_lock)
        {
            while (!_done[batch] && !_canceled && !_failed) Monitor.Wait(_lock);
            if (_errors[batch] is { } e) ExceptionDispatchInfo.Capture(e).Throw();
            if (!_done[batch] && _failed && _errors.FirstOrDefault(x => x is not null) is { } first) ExceptionDispatchInfo.Capture(first).Throw();
            if (!_done[batch]) throw new ObjectDisposedException(nameof(DecodePass), "the decoding pass was stopped (a newer enumeration of the source, or its disposal)");
        }
    }

    /// <summary>The consumer no longer reads <paramref name="batch"/>'s slot.</summary>
    public void Release(int batch) => _ring.Release(batch);

    /// <summary>Stops the threads after the image each is decoding and waits for them: afterwards nothing writes to
    /// the slots.</summary>
    public void Dispose()
    {
        lock (_lock) { _canceled = true; Monitor.PulseAll(_lock); }
        _ring.Cancel();
        foreach (var t in _threads) t.Join();
    }
}
