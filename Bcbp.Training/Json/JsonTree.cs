using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bcbp.Training.Json;

/// <summary>Small pure operations on JSON config trees: deep merge, dotted-path set/get, and a stable hash.
/// Suites compose experiment configs as JSON (base + model + dataset + phase + cell) before the typed
/// <see cref="Config.ConfigLoader"/> binds and validates them, so a suite never depends on C# config shapes.</summary>
public static class JsonTree
{
    /// <summary>A new object: <paramref name="overlay"/>'s keys replace <paramref name="target"/>'s, objects merged
    /// recursively; arrays and scalars are replaced whole (as configuration layering does).</summary>
    public static JsonObject Merge(JsonObject target, JsonObject? overlay)
    {
        var result = (JsonObject)target.DeepClone();
        if (overlay is null) return result;
        foreach (var (key, value) in overlay)
        {
            if (value is JsonObject o && result[key] is JsonObject existing) result[key] = Merge(existing, o);
            else result[key] = value?.DeepClone();
        }
        return result;
    }

    /// <summary>Sets <paramref name="dottedPath"/> (<c>prune.schedule.kind</c>) in place, creating objects on the way
    /// (a null in the way, such as <c>"prune": null</c>, is replaced by an object).</summary>
    public static void Set(JsonObject root, string dottedPath, JsonNode? value)
    {
        var parts = dottedPath.Split('.');
        var node = root;
        foreach (var part in parts[..^1])
        {
            if (node[part] is not JsonObject child)
            {
                if (node[part] is not null)
                    throw new ArgumentException($"cannot set '{dottedPath}': '{part}' holds a {node[part]!.GetValueKind()}, not an object");
                child = new JsonObject();
                node[part] = child;
            }
            node = child;
        }
        node[parts[^1]] = value;
    }

    /// <summary>The node at <paramref name="dottedPath"/>, or null when any part is missing.</summary>
    public static JsonNode? Get(JsonObject root, string dottedPath)
    {
        JsonNode? node = root;
        foreach (var part in dottedPath.Split('.'))
        {
            if (node is not JsonObject o || !o.TryGetPropertyValue(part, out node)) return null;
        }
        return node;
    }

    /// <summary>JSON text with object keys sorted at every level, so equal trees give equal text.</summary>
    public static string Canonical(JsonNode? node)
    {
        var sb = new StringBuilder();
        Write(node, sb);
        return sb.ToString();
    }

    /// <summary>SHA-256 (hex) of <see cref="Canonical"/> text.</summary>
    public static string Hash(JsonNode? node)
        => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(node))));

    static void Write(JsonNode? node, StringBuilder sb)
    {
        switch (node)
        {
            case null: sb.Append("null"); break;
            case JsonObject o:
                sb.Append('{');
                bool first = true;
                foreach (var (k, v) in o.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    if (!first) sb.Append(',');
                    first = false;
                    sb.Append(JsonSerializer.Serialize(k)).Append(':');
                    Write(v, sb);
                }
                sb.Append('}');
                break;
            case JsonArray a:
                sb.Append('[');
                for (int i = 0; i < a.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    Write(a[i], sb);
                }
                sb.Append(']');
                break;
            default:
                // Numbers are written through double so 0.5 and 0.50 hash alike.
                var value = (JsonValue)node;
                if (value.GetValueKind() == JsonValueKind.Number)
                    sb.Append(double.Parse(value.ToJsonString(), CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture));
                else sb.Append(value.ToJsonString());
                break;
        }
    }
}
