using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Bcbp.Training.Config;

/// <summary>Writes a resolved config back as snake_case JSON (loadable by <see cref="ConfigLoader"/>) and hashes it
/// for provenance.</summary>
public static class ConfigSerializer
{
    static readonly JsonSerializerOptions Indented = new()
    { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };
    static readonly JsonSerializerOptions Compact = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The config as snake_case JSON; every key is written, defaults included, so the file is complete.</summary>
    public static string ToJson(ExperimentConfig config, bool indented = true) =>
        JsonSerializer.Serialize(config, indented ? Indented : Compact);

    /// <summary>SHA-256 (lowercase hex) of the compact JSON: equal configs hash equal, whatever file they came from.</summary>
    public static string Hash(ExperimentConfig config) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ToJson(config, indented: false))));

    /// <summary>Writes the indented JSON to <paramref name="path"/> atomically (temp file + rename).</summary>
    public static void Save(ExperimentConfig config, string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp";
        File.WriteAllText(tmp, ToJson(config) + "\n");
        File.Move(tmp, full, overwrite: true);
    }
}
