namespace Bcbp.Training.Config;

/// <summary>What a path option names and where a bare name of it is looked for.</summary>
/// <param name="What">Its name in messages ("config", "suite", "run folder").</param>
/// <param name="Option">The option that takes it (<c>--config</c>), for messages.</param>
/// <param name="Folder">The folder a bare name is looked for in, below the base directory and each parent; null: the
/// path alone.</param>
/// <param name="Extensions">Tried in turn after a name without extension.</param>
/// <param name="IsDirectory">It names a folder, not a file.</param>
public sealed record PathKind(string What, string Option, string? Folder, string[] Extensions, bool IsDirectory)
{
    public static readonly PathKind Config = new("config", "--config", "configs", new[] { ".json", ".yaml", ".yml" }, false);
    public static readonly PathKind Suite = new("suite", "--suite", "experiments", new[] { ".json" }, false);
    public static readonly PathKind Run = new("run folder", "--run", "runs", Array.Empty<string>(), true);
    /// <summary>A folder of run folders (<c>compare --runs</c>).</summary>
    public static readonly PathKind Runs = new("folder of runs", "--runs", "runs", Array.Empty<string>(), true);
    public static readonly PathKind Results = new("results folder", "--results", "experiments/results", Array.Empty<string>(), true);
    public static readonly PathKind Bench = new("bench file", "--bench", "experiments/results/bench", new[] { ".json" }, false);
    public static readonly PathKind Weights = new("weights file", "--weights", null, new[] { ".safetensors", ".pt", ".pth" }, false);
}

/// <summary>
/// Finds a file or folder from what the user typed: an existing path; else NAME in the base directory; else in the
/// kind's folder (<c>configs/</c> for configs, <c>experiments/</c> for suites, <c>runs/</c> for runs); else in that
/// folder of each parent directory (so <c>--config resnet50_bcbp.json</c> run inside Bcbp.Training finds
/// ../configs/resnet50_bcbp.json). A name without extension also tries the kind's extensions.
/// </summary>
public static class PathResolver
{
    /// <summary>The full path, or a <see cref="FileNotFoundException"/> / <see cref="DirectoryNotFoundException"/>
    /// that lists every place tried.</summary>
    public static string Resolve(string pathOrName, PathKind kind, string baseDirectory)
    {
        if (string.IsNullOrWhiteSpace(pathOrName)) throw new ArgumentException($"{kind.Option} needs a {kind.What} name or path");
        var tried = new List<string>();
        foreach (var candidate in Candidates(pathOrName, kind, Path.GetFullPath(baseDirectory)))
        {
            if (tried.Contains(candidate)) continue;
            tried.Add(candidate);
            if (kind.IsDirectory ? Directory.Exists(candidate) : File.Exists(candidate)) return candidate;
            if (!kind.IsDirectory && tried.Count == 1 && Directory.Exists(candidate))
            {
                var inside = Directory.EnumerateFiles(candidate).Where(f => kind.Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                    .Select(Path.GetFileName).Order().Take(5).ToList();
                throw new ArgumentException($"{kind.What} '{pathOrName}' is a folder ({candidate}), not a file; pass one of its " +
                    (inside.Count > 0 ? $"files ({string.Join(", ", inside)})." : $"{string.Join("/", kind.Extensions)} files (it holds none)."));
            }
        }
        string message = $"{kind.What} '{pathOrName}' not found. Tried:\n  " + string.Join("\n  ", tried) +
                         $"\nFix: pass the path of an existing {kind.What}" +
                         (kind.Folder is null ? "." : $", or a name in {kind.Folder}/ of the working directory or a parent.");
        if (kind.IsDirectory) throw new DirectoryNotFoundException(message);
        throw new FileNotFoundException(message, pathOrName);
    }

    /// <summary>A config: <see cref="Resolve"/> with <see cref="PathKind.Config"/>.</summary>
    public static string Config(string pathOrName, string baseDirectory) => Resolve(pathOrName, PathKind.Config, baseDirectory);

    static IEnumerable<string> Candidates(string name, PathKind kind, string baseDir)
    {
        var names = Path.HasExtension(name) || kind.Extensions.Length == 0
            ? new[] { name } : new[] { name }.Concat(kind.Extensions.Select(e => name + e)).ToArray();
        foreach (var n in names) yield return Path.GetFullPath(n, baseDir);
        if (Path.IsPathRooted(name) || kind.Folder is null) yield break;
        foreach (var n in names) yield return Path.GetFullPath(Path.Combine(kind.Folder, n), baseDir);
        for (var dir = Directory.GetParent(baseDir); dir is not null; dir = dir.Parent)
            foreach (var n in names) yield return Path.GetFullPath(Path.Combine(dir.FullName, kind.Folder, n));
    }
}
