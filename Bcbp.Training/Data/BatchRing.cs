namespace Bcbp.Training.Data;

/// <summary>
/// Which host buffer (slot) each batch of a pass is decoded into, and when a slot may be reused: batch b uses slot
/// b % <see cref="Depth"/>, and <see cref="Acquire"/> hands it out only once the consumer has released batch
/// b - Depth (the slot's previous batch) and the slot's last host-to-device copy has read it (the wait given to the
/// constructor: an event wait on CUDA, nothing on the CPU). So decoding runs at most <see cref="Depth"/> batches
/// ahead of the consumer and never writes into a buffer that is still being read.
/// Thread-safe: many decoding threads acquire, one consumer releases, in batch order.
/// </summary>
internal sealed class BatchRing
{
    readonly object _lock = new();
    readonly long[] _holder, _preparing;
    readonly Action<int> _waitUntilIdle;
    long _released;
    bool _canceled;

    /// <param name="depth">Slots in the ring: how many batches may be decoded ahead of the consumer.</param>
    /// <param name="waitUntilIdle">Blocks until nothing reads the slot's host memory any more (its copy is done).</param>
    public BatchRing(int depth, Action<int> waitUntilIdle)
    {
        if (depth < 1) throw new ArgumentOutOfRangeException(nameof(depth), "a ring needs at least one slot");
        Depth = depth;
        _holder = Enumerable.Repeat(-1L, depth).ToArray();
        _preparing = Enumerable.Repeat(-1L, depth).ToArray();
        _waitUntilIdle = waitUntilIdle;
    }

    /// <summary>Number of slots.</summary>
    public int Depth { get; }

    /// <summary>Batches released so far (0, 1, ... in order).</summary>
    public long Released { get { lock (_lock) return _released; } }

    /// <summary>The slot of <paramref name="batch"/>, once it is free; every caller for the same batch gets the same
    /// slot, and the idle wait runs once per batch. -1 when the ring was canceled while waiting.</summary>
    public int Acquire(long batch)
    {
        int slot = (int)(batch % Depth);
        lock (_lock)
        {
            while (!_canceled && batch >= _released + Depth) Monitor.Wait(_lock);
            while (!_canceled && _holder[slot] != batch && _preparing[slot] == batch) Monitor.Wait(_lock);
            if (_canceled) return -1;
            if (_holder[slot] == batch) return slot;
            if (_holder[slot] > batch) throw new InvalidOperationException($"batch {batch} asked for slot {slot} after batch {_holder[slot]} took it");
            _preparing[slot] = batch;
        }
        // The previous holder (batch - Depth, or none) is released; wait, outside the lock (the other slots' batches go
        // on), until its copy has finished reading the slot.
        try { _waitUntilIdle(slot); }
        catch
        {
            // A failed wait (a CUDA error) must not leave the batch's other threads waiting for this one.
            lock (_lock) { _preparing[slot] = -1; _canceled = true; Monitor.PulseAll(_lock); }
            throw;
        }
        lock (_lock)
        {
            _holder[slot] = batch;
            Monitor.PulseAll(_lock);
            return slot;
        }
    }

    /// <summary>The consumer is done with <paramref name="batch"/>'s slot; batches are released in order.</summary>
    public void Release(long batch)
    {
        lock (_lock)
        {
            if (batch != _released) throw new InvalidOperationException($"batch {batch} released out of order (next is {_released})");
            _released++;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Wakes every waiting <see cref="Acquire"/>, which then returns -1.</summary>
    public void Cancel()
    {
        lock (_lock) { _canceled = true; Monitor.PulseAll(_lock); }
    }
}
