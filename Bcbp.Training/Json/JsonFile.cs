using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Serialization;

namespace Bcbp.Training.Json;

/// <summary>Reads a JSON or YAML file into a <see cref="JsonNode"/> tree, with errors that name the file.</summary>
public static class JsonFile
{
    static readonly JsonDocumentOptions DocumentOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Reads <paramref name="path"/> (.json, .yaml or .yml) and returns its top-level object.</summary>
    public static JsonObject ReadObject(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"file not found: '{path}'", path);
        var ext = Path.GetExtension(path).ToLowerInvariant();
        JsonNode? node;
        try
        {
            node = ext switch
            {
                ".json" => JsonNode.Parse(File.ReadAllText(path), documentOptions: DocumentOptions),
                ".yaml" or ".yml" => FromYaml(File.ReadAllText(path)),
                _ => throw new ArgumentException($"'{path}': unknown extension '{ext}'; use .json, .yaml or .yml"),
            };
        }
        catch (Exception e) when (e is JsonException or YamlDotNet.Core.YamlException)
        {
            throw new InvalidDataException($"'{path}' is not valid {ext.TrimStart('.').ToUpperInvariant()}: {e.Message}", e);
        }
        return node as JsonObject
               ?? throw new InvalidDataException($"'{path}' must hold an object at the top level, got {node?.GetValueKind().ToString() ?? "null"}");
    }

    /// <summary>Converts YAML text to a JSON tree; unquoted scalars become numbers, booleans and nulls as in JSON.</summary>
    public static JsonNode? FromYaml(string yaml)
    {
        var data = new DeserializerBuilder().WithAttemptingUnquotedStringTypeDeserialization().Build()
            .Deserialize<object?>(yaml);
        return ToNode(data);
    }

    static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        IDictionary<object, object?> map => new JsonObject(map.Select(kv =>
            KeyValuePair.Create(Convert.ToString(kv.Key, System.Globalization.CultureInfo.InvariantCulture)!, ToNode(kv.Value)))),
        IList<object?> list => new JsonArray(list.Select(ToNode).ToArray()),
        _ => JsonValue.Create(JsonSerializer.SerializeToElement(value)),
    };

    /// <summary>Indented JSON text of <paramref name="node"/>.</summary>
    public static string Format(JsonNode node) => node.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
}
