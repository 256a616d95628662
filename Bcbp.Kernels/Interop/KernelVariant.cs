namespace Bcbp.Kernels.Interop;

/// <summary>
/// One compiled form of a kernel source: the file, the arch suffix ("" or "a" for sm_90a) and the -D definitions
/// (without PDL, which <see cref="KernelCache"/> adds for the machine). A cubin holds every kernel of its file, so this
/// is what a compile produces. <see cref="KernelCache"/> lists the variants it compiles in its folder's
/// <see cref="KernelCache.VariantsFile"/>, one <see cref="Line"/> each, so that a fresh machine can compile them all at
/// once, in parallel, before its first run (<see cref="KernelCache.Compile"/>, <c>bcbp kernels --compile</c>).
/// </summary>
public sealed record KernelVariant(string File, string ArchSuffix, IReadOnlyList<string> Defines)
{
    /// <summary>"file TAB suffix TAB define define ...".</summary>
    public string Line => $"{File}\t{ArchSuffix}\t{string.Join(" ", Defines)}";

    /// <summary>Reads <see cref="Line"/>; <paramref name="where"/> ("file:line") names a malformed one.</summary>
    public static KernelVariant Parse(string line, string where)
    {
        var parts = line.Split('\t');
        if (parts.Length != 3 || !parts[0].EndsWith(".cu", StringComparison.Ordinal) || parts[1] is not ("" or "a"))
            throw new FormatException($"{where}: expected 'FILE.cu<TAB>SUFFIX (empty or a)<TAB>DEFINES', got '{line}'");
        var defines = parts[2].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (defines.FirstOrDefault(d => !d.Contains('=')) is { } bad)
            throw new FormatException($"{where}: definition '{bad}' is not NAME=VALUE");
        return new KernelVariant(parts[0], parts[1], defines);
    }

    /// <summary>The variants of a list file, each once, in file order, and the lines that are not variants
    /// ("file:line: why"; blank lines are skipped silently). The list is written by runs, possibly several at once, so a
    /// damaged line costs only itself.</summary>
    public static (IReadOnlyList<KernelVariant> Variants, IReadOnlyList<string> Skipped) ReadAll(string path)
    {
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"kernel variant list '{path}' does not exist (a GPU run writes it as {KernelCache.VariantsFile} in the kernel cache folder)");
        var seen = new HashSet<string>();
        var list = new List<KernelVariant>();
        var skipped = new List<string>();
        int n = 0;
        foreach (var line in System.IO.File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                var v = Parse(line.TrimEnd('\r'), $"{path}:{n}");
                if (seen.Add(v.Line)) list.Add(v);
            }
            catch (FormatException e) { skipped.Add(e.Message); }
        }
        return (list, skipped);
    }

    public bool Equals(KernelVariant? other) => other is not null && Line == other.Line;
    public override int GetHashCode() => Line.GetHashCode();
}
