namespace Bcbp.Training.Config;

/// <summary>"Did you mean" for mistyped keys and values: the closest candidate by edit distance, ignoring case and
/// underscores (so <c>batchsize</c> and <c>BatchSize</c> both find <c>batch_size</c>).</summary>
public static class KeySuggester
{
    /// <summary>The closest candidate, or null when none is close enough to be a plausible typo.</summary>
    public static string? Closest(string word, IEnumerable<string> candidates)
    {
        string w = Normalize(word);
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var c in candidates)
        {
            int d = Distance(w, Normalize(c));
            if (d < bestDistance) { bestDistance = d; best = c; }
        }
        int allowed = Math.Max(2, w.Length / 3);
        return bestDistance <= allowed ? best : null;
    }

    static string Normalize(string s) => s.Replace("_", "").Replace("-", "").ToLowerInvariant();

    /// <summary>Levenshtein distance.</summary>
    public static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
