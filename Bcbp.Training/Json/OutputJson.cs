using System.Text.Json;
using System.Text.Json.Serialization;
using Bcbp.Models.IO;

namespace Bcbp.Training.Json;

/// <summary>The conventions of every JSON file Bcbp writes (results.json, cost.json, suite_cell.json, shrink.json,
/// sparse_eval.json, reports): snake_case keys, indented, enums as strings; reading ignores key case and names the
/// file when it is missing or malformed.</summary>
public static class OutputJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        PropertyNameCaseInsensitive = true,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Deserializes <paramref name="path"/>, naming the file when it is missing or malformed.</summary>
    public static T Read<T>(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"file not found: '{path}'", path);
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options)
                   ?? throw new InvalidDataException($"'{path}' holds null, expected a {typeof(T).Name} object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a valid {typeof(T).Name} JSON file: {e.Message}", e);
        }
    }

    /// <summary>Writes <paramref name="value"/> to <paramref name="path"/> atomically.</summary>
    public static void Write<T>(string path, T value) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, Options));
}
