namespace Bcbp.Training.Logging;

/// <summary>Writes files so that readers (and a run killed mid-write) see the old content or the new, never half.</summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text) => Write(path, tmp => File.WriteAllText(tmp, text));

    /// <summary>Lets <paramref name="write"/> fill a temporary file beside <paramref name="path"/>, then renames it.</summary>
    public static void Write(string path, Action<string> write)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        // Same folder (same file system, so the rename is atomic); the extension is kept for writers that check it.
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileNameWithoutExtension(full)}.tmp{Path.GetExtension(full)}");
        write(tmp);
        File.Move(tmp, full, overwrite: true);
    }
}
