using System.Runtime.InteropServices;

namespace Bcbp.Training.Distributed;

/// <summary>
/// NCCL has no timeout of its own: a rank whose peer stopped waits inside a collective forever. The watchdog (one
/// background thread per NCCL collective) polls, every second, whether the work marked last (an event recorded on
/// the collective's stream after each queued collective, so at least once per step) has completed and whether NCCL
/// reports an asynchronous error. Work pending longer than <c>BCBP_DIST_TIMEOUT</c> since it was marked, or an
/// asynchronous error, is one clear line on stderr and an exit with code 3 (a runtime fault), without .NET's shutdown
/// (the main thread is stuck in native code). Idle time (nothing pending) never counts. The clock and both polls are
/// injected, so the logic is tested without a GPU or a thread.
/// </summary>
public sealed class CollectiveWatchdog : IDisposable
{
    readonly TimeSpan _timeout;
    readonly Func<TimeSpan> _clock;
    readonly Func<bool> _completed;
    readonly Func<string?> _asyncError;
    readonly Action<string> _fail;
    readonly string _who;
    long _markedTicks = -1;
    int _failed;
    Thread? _thread;
    readonly ManualResetEventSlim _stop = new();

    /// <summary>The exit code of a hung or failed collective (the CLI's runtime fault).</summary>
    public const int ExitCode = 3;

    /// <param name="timeout">How long marked work may stay pending.</param>
    /// <param name="clock">Monotonic time (a Stopwatch's elapsed time in the job).</param>
    /// <param name="completed">Whether the work marked last has completed (cuEventQuery; true before any mark).</param>
    /// <param name="asyncError">NCCL's asynchronous error, or null (ncclCommGetAsyncError).</param>
    /// <param name="fail">Called once with the line that says what hung; in a job: print it and exit (<see cref="ExitNow"/>).</param>
    /// <param name="who">This rank in the line ("rank 1 of 4").</param>
    public CollectiveWatchdog(TimeSpan timeout, Func<TimeSpan> clock, Func<bool> completed, Func<string?> asyncError, Action<string> fail,
        string who)
    {
        _timeout = timeout;
        _clock = clock;
        _completed = completed;
        _asyncError = asyncError;
        _fail = fail;
        _who = who;
    }

    /// <summary>Notes the time of the work about to be marked. Call it before recording the event: a poll between the
    /// two then sees the new time with the old (complete) event, never the old time with the new event.</summary>
    public void Marked() => Interlocked.Exchange(ref _markedTicks, _clock().Ticks);

    /// <summary>True once a check has failed (<c>fail</c> was called).</summary>
    public bool Failed => Volatile.Read(ref _failed) != 0;

    /// <summary>One poll: false (and <c>fail</c> called, the first time only) when NCCL reports an error or the marked
    /// work has been pending past the timeout.</summary>
    public bool Check()
    {
        if (Failed) return false;
        if (_asyncError() is { } error)
            return Fail($"error: {_who}: NCCL reported an asynchronous error: {error}; another rank or the network failed " +
                        "(its output says why; NCCL_DEBUG=INFO shows NCCL's log). Stopping.");
        long marked = Interlocked.Read(ref _markedTicks);
        if (marked < 0 || _completed()) return true;
        var waited = _clock() - TimeSpan.FromTicks(marked);
        if (waited <= _timeout) return true;
        return Fail($"error: {_who}: a collective has not completed after {waited.TotalSeconds:F0} s (BCBP_DIST_TIMEOUT is " +
                    $"{_timeout.TotalSeconds:F0} s): another rank has stopped or hangs; check every rank's output (or raise " +
                    "BCBP_DIST_TIMEOUT). Stopping.");
    }

    bool Fail(string line)
    {
        if (Interlocked.Exchange(ref _failed, 1) != 0) return false;
        _fail(line);
        return false;
    }

    /// <summary>Polls every <paramref name="interval"/> on a background thread until a check fails or
    /// <see cref="Dispose"/>; <paramref name="onThread"/> runs first on that thread (makes the device's context current).</summary>
    public void Start(TimeSpan interval, Action? onThread = null)
    {
        if (_thread is not null) throw new InvalidOperationException("the watchdog is already running.");
        _thread = new Thread(() =>
        {
            onThread?.Invoke();
            while (!_stop.IsSet && Check()) _stop.Wait(interval);
        }) { IsBackground = true, Name = "bcbp-nccl-watchdog" };
        _thread.Start();
    }

    /// <summary>Stops the polling thread (before the collective it watches is torn down).</summary>
    public void Dispose()
    {
        _stop.Set();
        if (_thread is { } t && t != Thread.CurrentThread) t.Join();
    }

    /// <summary>What a job's watchdog does on failure: the line on stderr, then _exit (no .NET shutdown: the main
    /// thread is blocked inside NCCL, and running the runtime's shutdown under libtorch's busy threads crashes).</summary>
    public static void ExitNow(string line)
    {
        Console.Error.WriteLine(line);
        Console.Error.Flush();
        if (OperatingSystem.IsWindows()) Environment.Exit(ExitCode);
        else LibcExit(ExitCode);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    static extern void LibcExit(int status);
}
