# shellcheck shell=bash
# Shared by the sandbox's database images' entrypoints, which source it from their own directory.

# A variable's value, or the contents of the file its *_FILE twin names (the chart's usePasswordFile).
secret() {
    local file_var="${1}_FILE"
    if [[ -n "${!file_var:-}" ]]; then
        cat "${!file_var}"
    else
        printf '%s' "${!1:-}"
    fi
}
