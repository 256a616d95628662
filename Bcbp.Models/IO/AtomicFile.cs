using System.Text;

namespace Bcbp.Models.IO;

/// <summary>Writes a file through a temp file in the same folder and a rename, so readers (and a run killed
/// mid-write) see the old content or the new, never half a file. The one way every Bcbp file is written.</summary>
public static class AtomicFile
{
    static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Creates <paramref name="path"/> (and its folder) with what <paramref name="write"/> writes.</summary>
    public static void Write(string path, Action<Stream> write) => WriteFile(path, temp =>
    {
        using var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite);
        write(stream);
        stream.Flush(flushToDisk: true);
    });

    /// <summary>Lets <paramref name="write"/> fill a temporary file given by its path (for writers that only take a
    /// path, such as a plot's SavePng; it keeps <paramref name="path"/>'s extension, which such writers check), then
    /// renames it over <paramref name="path"/>.</summary>
    public static void WriteFile(string path, Action<string> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, $".{Path.GetFileNameWithoutExtension(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}{TempMarker}{Path.GetExtension(full)}");
        try
        {
            write(temp);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    const string TempMarker = ".tmp";

    /// <summary>Deletes the temp files that writers killed mid-write (kill -9, power loss) left in <paramref name="dir"/>:
    /// those of processes that no longer run. Returns their names.</summary>
    public static IReadOnlyList<string> CleanOrphans(string dir)
    {
        var removed = new List<string>();
        if (!Directory.Exists(dir)) return removed;
        foreach (var file in Directory.EnumerateFiles(dir, "." + "*" + TempMarker + "*"))
        {
            // .NAME.PID.GUID.tmp.EXT: the PID is the third field from the marker's end.
            var parts = Path.GetFileName(file).Split('.');
            int marker = Array.LastIndexOf(parts, TempMarker[1..]);
            if (marker < 2 || !int.TryParse(parts[marker - 2], out int pid) || parts[marker - 1].Length != 32) continue;
            if (pid == Environment.ProcessId || IsRunning(pid)) continue;
            try { File.Delete(file); removed.Add(Path.GetFileName(file)); }
            catch (IOException) { } // another cleaner got it first
        }
        return removed;
    }

    static bool IsRunning(int pid)
    {
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 (no byte-order mark, as File.WriteAllText).</summary>
    public static void WriteAllText(string path, string text) => Write(path, s => s.Write(Utf8.GetBytes(text)));

    /// <summary>Copies the file <paramref name="source"/> to <paramref name="path"/>.</summary>
    public static void Copy(string source, string path) => Write(path, s =>
    {
        using var from = File.OpenRead(source);
        from.CopyTo(s);
    });
}
