using Bcbp.Models.IO;

namespace Bcbp.Training.Data;

/// <summary>
/// Reads torchvision's CIFAR download (<c>cifar-10-batches-py/data_batch_1..5</c>, <c>test_batch</c>;
/// <c>cifar-100-python/train</c>, <c>test</c>): Python pickles of a dict whose <c>data</c> is a uint8 numpy array
/// [N, 3072] (channel-major rows, as the binary version) and whose <c>labels</c> (CIFAR-10) or <c>fine_labels</c>
/// (CIFAR-100) is a list of ints. Read through <see cref="RestrictedUnpickler.LoadData"/>: no code runs.
/// </summary>
public static class CifarPickleReader
{
    /// <summary>Reads and concatenates <paramref name="files"/> from <paramref name="folder"/>.</summary>
    public static CifarSplit Read(string folder, IReadOnlyList<string> files, bool cifar100)
    {
        int classes = cifar100 ? 100 : 10;
        string labelKey = cifar100 ? "fine_labels" : "labels";
        var paths = files.Select(f => Path.Combine(folder, f)).ToList();
        var missing = paths.Where(p => !File.Exists(p)).ToList();
        if (missing.Count > 0)
            throw new FileNotFoundException($"CIFAR-{classes} pickle{(missing.Count > 1 ? "s" : "")} not found: {string.Join(", ", missing.Select(m => $"'{m}'"))}; " +
                                            $"torchvision's download has {string.Join(", ", files)} in one folder: download it again", missing[0]);
        var images = new List<byte[]>();
        var labels = new List<long>();
        foreach (var path in paths)
        {
            if (RestrictedUnpickler.LoadData(File.ReadAllBytes(path), path) is not OrderedDictionary<object, object?> dict)
                throw new InvalidDataException($"'{path}' is a pickle but not a dict: not a CIFAR batch");
            if (!dict.TryGetValue("data", out var d) || d is not NumpyArray data)
                throw new InvalidDataException($"'{path}' has no 'data' array (keys: {string.Join(", ", dict.Keys)}): not a CIFAR batch");
            if (!dict.TryGetValue(labelKey, out var l) || l is not List<object?> list)
                throw new InvalidDataException($"'{path}' has no '{labelKey}' list (keys: {string.Join(", ", dict.Keys)})" +
                                               (dict.ContainsKey(cifar100 ? "labels" : "fine_labels") ? $"; it looks like a CIFAR-{(cifar100 ? 10 : 100)} file: check data.dataset" : ""));
            if (data.DType is not ("u1" or "|u1") || data.FortranOrder || data.Shape is not [var n, CifarReader.PixelBytes] || data.Data.LongLength != n * CifarReader.PixelBytes)
                throw new InvalidDataException($"'{path}': 'data' is a {data.DType} array of shape [{string.Join(", ", data.Shape)}], " +
                                               $"expected uint8 [N, {CifarReader.PixelBytes}] in C order; download it again");
            if (list.Count != n)
                throw new InvalidDataException($"'{path}' has {list.Count} labels for {n} images");
            for (int i = 0; i < list.Count; i++)
            {
                if (list[i] is not long label || label < 0 || label >= classes)
                    throw new InvalidDataException($"'{path}': label {i} is {list[i] ?? "None"}, outside 0..{classes - 1}; is this a CIFAR-{classes} file?");
                labels.Add(label);
            }
            images.Add(data.Data);
        }
        return new CifarSplit(images.SelectMany(a => a).ToArray(), labels.ToArray());
    }
}
