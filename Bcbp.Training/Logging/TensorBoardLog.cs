namespace Bcbp.Training.Logging;

/// <summary>
/// The TensorBoard event files of one run (<c>output_dir/NAME/tb/</c>; <c>tensorboard --logdir runs/</c> shows every
/// run and suite cell side by side). TorchSharp 0.107 ships <c>torch.utils.tensorboard.SummaryWriter</c>, but with no
/// <c>purge_step</c> and a private record writer, so it cannot drop or rewrite events. This writer keeps one unbuffered
/// file open, is forced to disk with each checkpoint (<see cref="Flush"/>), and <see cref="Open"/> does purge_step's
/// work: what earlier starts of the run wrote after the step the run resumes from is dropped, so a resumed run shows
/// every step once.
/// </summary>
public sealed class TensorBoardLog : IDisposable
{
    /// <summary>The folder in the run folder.</summary>
    public const string Folder = "tb";

    readonly FileStream _stream;

    TensorBoardLog(string path)
    {
        // Unbuffered: each event reaches the file when it is logged (TensorBoard shows it live; a kill loses nothing
        // already logged), at one write per event, every log.tb_every steps.
        _stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 0);
        EventFile.Write(_stream, EventFile.Version(Now()));
    }

    /// <summary>The event file being written.</summary>
    public string Path => _stream.Name;

    /// <summary>Opens <paramref name="dir"/> for a run that continues after step <paramref name="keepUpTo"/> (0: a fresh
    /// start): the scalars earlier starts wrote at later steps are dropped first, then a new event file is begun.</summary>
    public static TensorBoardLog Open(string dir, long keepUpTo)
    {
        Directory.CreateDirectory(dir);
        var old = Purge(dir, keepUpTo);
        // TensorBoard reads a folder's files in name order; the name's time keeps the new file after the kept one.
        long seconds = Math.Max(DateTimeOffset.UtcNow.ToUnixTimeSeconds(), old is null ? 0 : SecondsOf(old) + 1);
        return new TensorBoardLog(System.IO.Path.Combine(dir, $"events.out.tfevents.{seconds}.{Environment.MachineName}.{Environment.ProcessId}"));
    }

    /// <summary>Appends <paramref name="tag"/> = <paramref name="value"/> at <paramref name="step"/>.</summary>
    public void Scalar(string tag, double value, long step) => EventFile.Write(_stream, EventFile.Scalar(tag, (float)value, step, Now()));

    /// <summary>Forces what was written onto the disk (called before each checkpoint is saved, so the scalars up to a
    /// checkpoint's step survive whatever survives the checkpoint).</summary>
    public void Flush() => _stream.Flush(flushToDisk: true);

    public void Dispose() => _stream.Dispose();

    static double Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    static long SecondsOf(string file) =>
        long.TryParse(System.IO.Path.GetFileName(file).Split('.').ElementAtOrDefault(3), out var s) ? s : 0;

    /// <summary>Keeps the scalars at steps &lt;= <paramref name="keepUpTo"/> of every event file in <paramref name="dir"/>
    /// (the last one of each tag and step, should an earlier purge have been cut short) in one file under the oldest
    /// file's name, and deletes the others; returns the kept file, or null.</summary>
    static string? Purge(string dir, long keepUpTo)
    {
        var files = EventFile.Files(dir);
        if (files.Length == 0) return null;
        var kept = files.SelectMany(EventFile.Read).SelectMany(EventFile.Scalars)
            .Where(s => s.Step <= keepUpTo)
            .GroupBy(s => (s.Tag, s.Step)).Select(g => g.Last())
            .OrderBy(s => s.Step).ToList();
        string? keptFile = null;
        if (kept.Count > 0)
        {
            // Not a "tfevents" name, so TensorBoard ignores it should the process stop before the rename.
            string temp = System.IO.Path.Combine(dir, "purge.tmp");
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
            {
                EventFile.Write(stream, EventFile.Version(kept[0].WallTime));
                foreach (var s in kept) EventFile.Write(stream, EventFile.Scalar(s.Tag, s.Value, s.Step, s.WallTime));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, files[0], overwrite: true);
            keptFile = files[0];
        }
        foreach (var f in files.Where(f => f != keptFile)) File.Delete(f);
        return keptFile;
    }
}
