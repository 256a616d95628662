using System.Diagnostics;
using System.Text.Json;

namespace Bcbp.Training.Runs;

/// <summary>
/// The run folder's lock (<c>run.lock</c>: host, process id and its start time), held while a run writes the folder,
/// so a second <c>bcbp train</c> or suite on the same folder is refused instead of interleaving its files. A lock left
/// by a killed process (same host, that process gone) is taken over. Dispose releases it.
/// </summary>
public sealed class RunLock : IDisposable
{
    /// <summary>The lock's file name in the run folder.</summary>
    public const string FileName = "run.lock";

    sealed record Holder(string Host, int Pid, DateTime ProcessStartUtc);

    readonly string _path;
    bool _released;

    RunLock(string path) => _path = path;

    /// <summary>Takes the lock of <paramref name="runDir"/> (which must exist).</summary>
    /// <exception cref="RunLockedException">Another live process holds it.</exception>
    public static RunLock Acquire(string runDir)
    {
        var path = Path.Combine(runDir, FileName);
        var me = new Holder(Environment.MachineName, Environment.ProcessId, Process.GetCurrentProcess().StartTime.ToUniversalTime());
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                using (var s = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
                    JsonSerializer.Serialize(s, me);
                return new RunLock(path);
            }
            catch (IOException) when (File.Exists(path) && attempt < 2)
            {
                var holder = Read(path);
                if (holder is not null && (holder.Host != me.Host || IsAlive(holder)))
                    throw new RunLockedException($"run folder '{runDir}' is in use by process {holder.Pid} on host {holder.Host} " +
                        $"(running since {holder.ProcessStartUtc:yyyy-MM-dd HH:mm:ss} UTC): wait for it to finish, or give this run another " +
                        $"name (--set name=...). If that process is gone, delete {path}.");
                if (holder is null && DateTime.UtcNow - File.GetLastWriteTimeUtc(path) < TimeSpan.FromSeconds(10))
                    throw new RunLockedException($"run folder '{runDir}' is being locked by another process right now; retry, or delete {path} if none runs.");
                File.Delete(path); // a killed run's lock (or an unreadable old one): take it over
            }
        }
    }

    static Holder? Read(string path)
    {
        try { return JsonSerializer.Deserialize<Holder>(File.ReadAllText(path)); }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { return null; }
    }

    static bool IsAlive(Holder h)
    {
        try
        {
            using var p = Process.GetProcessById(h.Pid);
            // A reused process id is another process: compare start times (to the second, as file systems round).
            return !p.HasExited && Math.Abs((p.StartTime.ToUniversalTime() - h.ProcessStartUtc).TotalSeconds) < 2;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose()
    {
        if (_released) return;
        _released = true;
        try { File.Delete(_path); } catch (IOException) { } // a vanished folder has no lock to release
    }
}

/// <summary>Another process holds the run folder's lock; the message names its host and process id.</summary>
public sealed class RunLockedException(string message) : IOException(message);
