using Bcbp.Models.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bcbp.Training.Config;

/// <summary>Writes a resolved config back as snake_case JSON (loadable by <see cref="ConfigLoader"/>) and hashes it
/// for provenance.</summary>
public static class ConfigSerializer
{
    /// <summary>The config as snake_case JSON; every key is written, defaults included, so the file is complete.</summary>
    public static string ToJson(ExperimentConfig config, bool indented = true)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented }))
            ToNode(config)!.WriteTo(writer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>A section as JSON with exactly the keys <see cref="ConfigBinder"/> binds (so the output loads back;
    /// computed read-only views such as PruneConfig.EffectiveExclude are not keys).</summary>
    static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        string v => JsonValue.Create(v),
        bool v => JsonValue.Create(v),
        int v => JsonValue.Create(v),
        long v => JsonValue.Create(v),
        double v => JsonValue.Create(v),
        Enum v => JsonValue.Create(System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(v.ToString())),
        System.Collections.IList list => new JsonArray(list.Cast<object?>().Select(ToNode).ToArray()),
        _ => new JsonObject(ConfigBinder.Keys(value.GetType())
                 .Select(p => KeyValuePair.Create(ConfigBinder.KeyOf(p), ToNode(p.GetValue(value))))),
    };

    /// <summary>SHA-256 (lowercase hex) of the compact JSON: equal configs hash equal, whatever file they came from.</summary>
    public static string Hash(ExperimentConfig config) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ToJson(config, indented: false))));

    /// <summary>Writes the indented JSON to <paramref name="path"/> atomically (temp file + rename).</summary>
    public static void Save(ExperimentConfig config, string path) => AtomicFile.WriteAllText(path, ToJson(config) + "\n");
}
