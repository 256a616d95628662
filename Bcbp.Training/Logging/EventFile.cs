using System.Buffers.Binary;
using Google.Protobuf;
using Tensorboard;

namespace Bcbp.Training.Logging;

/// <summary>One scalar point of a TensorBoard event file.</summary>
public sealed record ScalarPoint(string Tag, long Step, float Value, double WallTime);

/// <summary>
/// Reads and writes TensorBoard event files: TFRecord framing (length, masked CRC-32C of the length, the serialized
/// <c>Event</c> protobuf, masked CRC-32C of the data), every checksum checked. A record cut short at the end of the
/// file (a write interrupted by a kill) ends the file as it does for TensorBoard; a checksum mismatch is an error.
/// </summary>
public static class EventFile
{
    /// <summary>Appends one record holding <paramref name="e"/> to <paramref name="stream"/>, in one write (an unbuffered
    /// stream then never holds half a record unless the process dies inside the write).</summary>
    public static void Write(Stream stream, Event e)
    {
        // ToByteArray: TorchSharp's generated Event predates protobuf's span-based WriteTo.
        var data = e.ToByteArray();
        var record = new byte[12 + data.Length + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(record, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), Crc32C.Masked(record.AsSpan(0, 8)));
        data.CopyTo(record, 12);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(12 + data.Length), Crc32C.Masked(data));
        stream.Write(record);
    }

    /// <summary>An event holding one scalar.</summary>
    public static Event Scalar(string tag, float value, long step, double wallTime)
    {
        var summary = new Summary();
        summary.Value.Add(new Summary.Types.Value { Tag = tag, SimpleValue = value });
        return new Event { WallTime = wallTime, Step = step, Summary = summary };
    }

    /// <summary>The first event of every file: the format version TensorBoard checks.</summary>
    public static Event Version(double wallTime) => new() { WallTime = wallTime, FileVersion = "brain.Event:2" };

    /// <summary>The events of <paramref name="path"/> in file order.</summary>
    public static IEnumerable<Event> Read(string path)
    {
        using var stream = File.OpenRead(path);
        var header = new byte[12];
        var footer = new byte[4];
        while (true)
        {
            long offset = stream.Position;
            if (stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length) yield break;
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(header);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8)) != Crc32C.Masked(header.AsSpan(0, 8)))
                throw new InvalidDataException($"event file '{path}': bad length checksum at byte {offset}; the file is corrupt");
            if (length > (ulong)(stream.Length - stream.Position)) yield break;
            var data = new byte[length];
            stream.ReadExactly(data);
            if (stream.ReadAtLeast(footer, 4, throwOnEndOfStream: false) < 4) yield break;
            if (BinaryPrimitives.ReadUInt32LittleEndian(footer) != Crc32C.Masked(data))
                throw new InvalidDataException($"event file '{path}': bad data checksum in the record at byte {offset}; the file is corrupt");
            yield return Event.Parser.ParseFrom(data);
        }
    }

    /// <summary>Every scalar (<c>simple_value</c>) of the event files in <paramref name="dir"/>, files in name order
    /// (TensorBoard's order: creation time).</summary>
    public static IReadOnlyList<ScalarPoint> ReadScalars(string dir) =>
        Files(dir).SelectMany(Read).SelectMany(Scalars).ToList();

    /// <summary>The event files of <paramref name="dir"/> (TensorBoard reads the files whose name contains "tfevents").</summary>
    public static string[] Files(string dir) =>
        Directory.Exists(dir) ? Directory.GetFiles(dir).Where(f => Path.GetFileName(f).Contains("tfevents")).Order(StringComparer.Ordinal).ToArray()
                              : Array.Empty<string>();

    /// <summary>The scalar values an event carries.</summary>
    public static IEnumerable<ScalarPoint> Scalars(Event e) =>
        e.Summary?.Value.Where(v => v.ValueCase == Summary.Types.Value.ValueOneofCase.SimpleValue)
            .Select(v => new ScalarPoint(v.Tag, e.Step, v.SimpleValue, e.WallTime)) ?? Enumerable.Empty<ScalarPoint>();
}
