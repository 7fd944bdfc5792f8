--[[
gen-man.lua - pandoc Lua filter: one manual page from a Markdown document
of docs/ (run by scripts/gen-man.sh, which passes the metadata below).

A page is declared in its document by a marker comment, invisible when the
Markdown is rendered, placed just under a heading:

    # The `herald` command
    <!-- man: herald(1) 2026-12-07: email authentication and delivery ... -->

NAME(SECTION), an optional date (YYYY-MM-DD; a page without one takes the
date of the document's first marker) and the one-line description that
becomes the NAME section ("herald \- email ..."). The page is made of the
heading's section: under a level-1 heading the whole document, under a
level-2 heading (## herald serve) that section only. Below that heading:

  * leading code blocks                  -> SYNOPSIS
  * the other blocks before a heading    -> DESCRIPTION
  * a heading "NAME ..." (a command: ## herald dkim sign)
                                         -> a subsection of COMMANDS, its
                                            leading code block a synopsis
  * Exit codes/Exit status, Environment, Files, Examples, See also
                                         -> EXIT STATUS, ENVIRONMENT, FILES,
                                            EXAMPLES, SEE ALSO, in that order
                                            at the end (man-pages(7))
  * any other heading                    -> a section of its own, in order
  * the next heading level               -> subsections (.SS); inside a
                                            command, a bold lead-in line

A synopsis becomes .SY/.YS (filled with a hanging indent at any terminal
width, never broken inside [...]); other code blocks are kept as they are
(.nf). SEE ALSO also names the other generated pages its text does not
already refer to. Markdown that means nothing in a terminal is rewritten:
links to another page's source (config.md) become the page
(herald.conf(5)), other relative links name the file (docs/api.md),
anchors keep their text, HTML is dropped; inline code is bold, with real
minus signs (\-) so that options can be copied. A table becomes a tbl(1)
table with column widths that fit 80 columns; but a table whose last
column has no header (a list of options, fields or files), of four or more
columns, or that cannot fit, becomes tagged paragraphs (.TP, as in
sshd_config(5)): the first cell the tag, the middle ones on a line of
their own under their headers' names, then the last cell.

Metadata (-M): page (herald-serve), section (8), source (docs/cli.md),
version (0.1.0), pages ("herald(1)=docs/cli.md herald-serve(8)=docs/cli.md
herald.conf(5)=docs/config.md": every page and its source).
--]]

local stringify = pandoc.utils.stringify

local function meta_str(meta, key)
  local v = meta[key]
  if v == nil then error('gen-man.lua: metadata "' .. key .. '" missing') end
  return stringify(v)
end

local function fail(msg)
  io.stderr:write('gen-man.lua: ' .. msg .. '\n')
  os.exit(1)
end

-- roff text: backslash, minus, @ (tbl's column separator), non-ASCII as
-- \[uXXXX] (groff and mandoc both know them).
local function roff_escape(s)
  local out = {}
  for _, c in utf8.codes(s) do
    if c == 92 then out[#out + 1] = '\\e'
    elseif c == 45 then out[#out + 1] = '\\-'
    elseif c == 64 then out[#out + 1] = '\\[at]'
    elseif c < 128 then out[#out + 1] = utf8.char(c)
    else out[#out + 1] = string.format('\\[u%04X]', c)
    end
  end
  return table.concat(out)
end

-- a line of a no-fill block: a leading . or ' would be a request
local function roff_line(s)
  local e = roff_escape(s)
  if e:match("^[.']") then e = '\\&' .. e end
  return e
end

local function is_marker(b)
  return b.t == 'RawBlock' and b.format == 'html' and b.text:match('^<!%-%-%s*man:')
end

-- "<!-- man: herald(1) 2026-12-07: description -->"
local function parse_marker(text)
  local body = text:match('^<!%-%-%s*man:%s*(.-)%s*%-%->%s*$')
  if not body then return nil end
  local name, sec, rest = body:match('^([%w%._%-]+)%((%w+)%)(.*)$')
  if not name then fail('marker without NAME(SECTION): ' .. text) end
  local date = rest:match('^%s+(%d%d%d%d%-%d%d%-%d%d)')
  if date then rest = rest:gsub('^%s+%d%d%d%d%-%d%d%-%d%d', '', 1) end
  local desc = rest:match('^:%s*(.+)$')
  if not desc then fail('marker without ": description": ' .. text) end
  return {name = name, section = sec, date = date, desc = desc}
end

------------------------------------------------------------------------
-- Inlines

local function code(s)
  return pandoc.RawInline('man', '\\f[B]' .. roff_escape(s) .. '\\f[R]')
end

-- herald(1): the name in bold, as man pages refer to each other
local function page_ref(ref)
  local name, sec = ref:match('^(.-)%((%w+)%)$')
  return pandoc.RawInline('man', '\\f[B]' .. roff_escape(name) .. '\\f[R](' .. sec .. ')')
end

-- set by Pandoc() before the inline pass
local source_dir        -- "docs"
local page_of_source    -- {["docs/config.md"] = "herald.conf(5)", ...}
local source_paths      -- its keys, sorted
local refs_seen         -- pages referred to, for SEE ALSO

local function normalize_path(p)
  local parts = {}
  for part in p:gmatch('[^/]+') do
    if part == '..' and #parts > 0 and parts[#parts] ~= '..' then table.remove(parts)
    elseif part ~= '.' then parts[#parts + 1] = part end
  end
  return table.concat(parts, '/')
end

local function link(el)
  local target = el.target
  if target:match('^#') then             -- an anchor in this document
    return el.content
  end
  if target:match('^%a[%w+.-]*:') then   -- http:, https:, mailto:
    local text = stringify(el.content)
    local bare = target:gsub('^mailto:', '')
    if text == target or text == bare then return pandoc.Str(bare) end
    local out = pandoc.List(el.content)
    out:extend({pandoc.Space(), pandoc.Str('(' .. bare .. ')')})
    return out
  end
  -- relative: a file of the source tree
  local file = target:gsub('#.*$', '')
  local path = normalize_path(source_dir .. '/' .. file)
  local text = stringify(el.content)
  local ref = page_of_source[path]
  local base = file:match('[^/]+$') or file
  local replacement
  if ref then
    refs_seen[ref] = true
    replacement = page_ref(ref)
  else
    replacement = code(path)
  end
  if text == file or text == base or text == path then return replacement end
  local out = pandoc.List(el.content)
  out:extend({pandoc.Space(), pandoc.Str('(')})
  out:insert(replacement)
  out:insert(pandoc.Str(')'))
  return out
end

-- plain-text mentions of a page's source (docs/config.md) name the page
local function str(el)
  -- an abbreviation does not end a sentence (no two spaces after it)
  if el.text:match('e%.g%.$') or el.text:match('i%.e%.$') then
    return pandoc.RawInline('man', roff_escape(el.text) .. '\\&')
  end
  for _, path in ipairs(source_paths) do
    local ref = page_of_source[path]
    local i, j = el.text:find(path, 1, true)
    if i then
      refs_seen[ref] = true
      local out = pandoc.List()
      if i > 1 then out:insert(pandoc.Str(el.text:sub(1, i - 1))) end
      out:insert(page_ref(ref))
      if j < #el.text then out:insert(pandoc.Str(el.text:sub(j + 1))) end
      return out
    end
  end
end

-- links first, while their text is still Markdown
local link_filter = {Link = link}
local inline_filter = {
  Code = function(el) return code(el.text) end,
  Str = str,
  Image = function(el) return el.caption end,
  RawInline = function(el) if el.format ~= 'man' then return {} end end,
}

------------------------------------------------------------------------
-- Blocks

-- display width of a text, as the terminal shows it
local function width(s)
  return utf8.len(s) or #s
end

local function cell_text(cell)
  return stringify(cell.contents)
end

local function longest_word(s)
  local m = 0
  for w in s:gmatch('%S+') do m = math.max(m, width(w)) end
  return m
end

-- The text width man(1) gives a page on an 80-column terminal is 78n; the
-- body is indented 7n. tbl(1) puts 3n between columns.
local TEXT_WIDTH = 70
local COLUMN_GAP = 3
local PANDOC_UNIT = 70  -- pandoc writes a width fraction w as w*70n

local function table_rows(tbl)
  local rows = pandoc.List()
  for _, r in ipairs(tbl.head.rows) do rows:insert(r) end
  for _, body in ipairs(tbl.bodies) do
    for _, r in ipairs(body.body) do rows:insert(r) end
  end
  return rows
end

-- A table as tagged paragraphs: the first cell is the tag; the paragraph
-- says the middle cells under their headers' names ("type: size; default:
-- 25M"), then, on a line of its own, the last cell.
local function table_as_list(tbl)
  local heads = {}
  for i, c in ipairs(tbl.head.rows[1].cells) do heads[i] = cell_text(c) end
  local items = pandoc.List()
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.body) do
      local cells = row.cells
      local n = #cells
      local term = pandoc.utils.blocks_to_inlines(cells[1].contents)
      local def = pandoc.List()
      for i = 2, n - 1 do
        local inl = pandoc.utils.blocks_to_inlines(cells[i].contents)
        if #inl > 0 then
          if #def > 0 then def:extend({pandoc.Str(';'), pandoc.Space()}) end
          if heads[i] ~= '' then def:extend({pandoc.Str(heads[i] .. ':'), pandoc.Space()}) end
          def:extend(inl)
        end
      end
      if n > 1 then
        if #def > 0 then
          -- the attributes on a line of their own, under the tag
          def:insert(1, pandoc.RawInline('man', '.br\n'))
          def:insert(pandoc.RawInline('man', '\n.br\n'))
        end
        def:extend(pandoc.utils.blocks_to_inlines(cells[n].contents))
      end
      items:insert({term, {{pandoc.Plain(def)}}})
    end
  end
  return pandoc.DefinitionList(items)
end

local function fit_table(tbl)
  local ncols = #tbl.colspecs
  local rows = table_rows(tbl)
  -- a table whose last column has no header is a list of terms (options,
  -- fields, files); four columns do not fit a terminal
  local heads = tbl.head.rows[1].cells
  if ncols == 1 or ncols >= 4 or cell_text(heads[#heads]) == '' then
    return table_as_list(tbl)
  end
  local natural, minimum = {}, {}
  for i = 1, ncols do natural[i], minimum[i] = 1, 1 end
  for _, r in ipairs(rows) do
    for i, c in ipairs(r.cells) do
      local t = cell_text(c)
      -- one en to spare: troff cannot adjust a line that fills a text
      -- block exactly
      natural[i] = math.max(natural[i], width(t) + 1)
      minimum[i] = math.max(minimum[i], longest_word(t) + 1)
    end
  end
  local avail = TEXT_WIDTH - COLUMN_GAP * (ncols - 1)
  local alloc, sum = {}, 0
  for i = 1, ncols do alloc[i] = minimum[i]; sum = sum + minimum[i] end
  if sum > avail then return table_as_list(tbl) end
  -- water-filling: each column up to its natural width, the narrowest
  -- needs first, the rest shared among the columns that want more
  local left = avail - sum
  while left > 0 do
    local wanting = {}
    for i = 1, ncols do if alloc[i] < natural[i] then wanting[#wanting + 1] = i end end
    if #wanting == 0 then break end
    local share = math.max(1, left // #wanting)
    for _, i in ipairs(wanting) do
      local give = math.min(share, natural[i] - alloc[i], left)
      alloc[i] = alloc[i] + give
      left = left - give
      if left == 0 then break end
    end
  end
  local specs = pandoc.List()
  for i, cs in ipairs(tbl.colspecs) do
    -- pandoc writes w*70n with one decimal: round w up so as not to lose
    -- the en a word needs
    specs:insert({cs[1], math.ceil(alloc[i] * 1000 / PANDOC_UNIT) / 1000})
  end
  tbl.colspecs = specs
  return tbl
end

local block_filter = {
  CodeBlock = function(el)
    local lines = pandoc.List()
    for line in (el.text .. '\n'):gmatch('(.-)\n') do lines:insert(roff_line(line)) end
    return pandoc.RawBlock('man', '.IP\n.nf\n' .. table.concat(lines, '\n') .. '\n.fi')
  end,
  RawBlock = function(el) if el.format ~= 'man' then return {} end end,
  Table = fit_table,
}

-- A synopsis (the code block under a command's heading): each line that
-- does not start with a blank begins a command, the indented lines go on
-- with it. Each becomes .SY/.YS: the command words (herald dkim keygen) in
-- bold, the arguments filled with a hanging indent at any terminal width,
-- never broken inside [...] or quotes.
local function synopsis_block(el)
  local commands = pandoc.List()
  for line in (el.text .. '\n'):gmatch('(.-)\n') do
    if line:match('^%s') and #commands > 0 then
      commands[#commands]:insert(line:match('^%s*(.-)%s*$'))
    elseif line:match('%S') then
      commands:insert(pandoc.List({line:match('^(.-)%s*$')}))
    end
  end
  local out = pandoc.List()
  for _, parts in ipairs(commands) do
    local first = parts[1]
    local name, rest = {}, first
    while true do
      local word, tail = rest:match('^(%S+)%s*(.*)$')
      if not word or not word:match('^%l[%l%d%-]*:?$') then break end
      name[#name + 1] = word
      rest = tail
    end
    parts[1] = rest
    out:insert('.SY "' .. roff_escape(table.concat(name, ' ')) .. '"')
    -- the arguments, one group a line: an option with its argument
    -- (--out DIR), or a [...] or quoted group, whose spaces do not break
    local tokens = pandoc.List()
    for _, part in ipairs(parts) do
      local depth, quote, cur = 0, nil, {}
      for _, c in utf8.codes(part .. ' ') do
        local ch = utf8.char(c)
        if ch == ' ' and depth == 0 and not quote then
          if #cur > 0 then tokens:insert(table.concat(cur)); cur = {} end
        else
          if quote then
            if ch == quote then quote = nil end
          elseif ch == "'" or ch == '"' then quote = ch
          elseif ch == '[' or ch == '{' then depth = depth + 1
          elseif (ch == ']' or ch == '}') and depth > 0 then depth = depth - 1
          end
          cur[#cur + 1] = ch
        end
      end
    end
    local groups = pandoc.List()
    for _, t in ipairs(tokens) do
      local prev = groups[#groups]
      if prev and prev:match('^%-') and not prev:match(' ') and not t:match('^[-[|]') then
        groups[#groups] = prev .. ' ' .. t
      else
        groups:insert(t)
      end
    end
    for _, g in ipairs(groups) do
      local text = roff_escape(g):gsub(' ', '\\ ')
      if text:match("^[.']") then text = '\\&' .. text end
      out:insert(text)
    end
    out:insert('.YS')
  end
  return pandoc.RawBlock('man', table.concat(out, '\n'))
end

------------------------------------------------------------------------
-- Page structure

local STANDARD = {      -- heading (lower case) -> man section, in order
  {'exit codes', 'EXIT STATUS'}, {'exit status', 'EXIT STATUS'},
  {'environment', 'ENVIRONMENT'}, {'files', 'FILES'},
  {'examples', 'EXAMPLES'}, {'see also', 'SEE ALSO'},
}
local ORDER = {'EXIT STATUS', 'ENVIRONMENT', 'FILES', 'EXAMPLES', 'SEE ALSO'}

local function standard_name(header)
  local t = stringify(header.content):lower()
  for _, s in ipairs(STANDARD) do if t == s[1] then return s[2] end end
  return nil
end

-- section headings are upper case; inline code keeps its case
local function upper_inlines(inlines)
  return pandoc.walk_inline(pandoc.Span(inlines), {
    Str = function(el) return pandoc.Str(pandoc.text.upper(el.text)) end,
  }).content
end

local function sh(inlines) return pandoc.Header(1, inlines) end
local function ss(inlines) return pandoc.Header(2, inlines) end
local function lead_in(inlines) return pandoc.Para({pandoc.Strong(inlines)}) end

-- split blocks at headings of `level`: preamble, {header, blocks}...
local function split(blocks, level)
  local pre, parts, cur = pandoc.List(), pandoc.List(), nil
  for _, b in ipairs(blocks) do
    if b.t == 'Header' and b.level == level then
      cur = {header = b, blocks = pandoc.List()}
      parts:insert(cur)
    elseif cur then cur.blocks:insert(b)
    else pre:insert(b) end
  end
  return pre, parts
end

-- a section's body: its sub-headings become .SS, or bold lead-ins
local function body(blocks, level, subheading)
  local out = pandoc.List()
  for _, b in ipairs(blocks) do
    if b.t == 'Header' and b.level == level + 1 then out:insert(subheading(b.content))
    elseif b.t == 'Header' and b.level > level + 1 then out:insert(lead_in(b.content))
    else out:insert(b) end
  end
  return out
end

function Pandoc(doc)
  local page = meta_str(doc.meta, 'page')
  local section = meta_str(doc.meta, 'section')
  local version = meta_str(doc.meta, 'version')
  local source = meta_str(doc.meta, 'source')
  source_dir = source:match('^(.*)/[^/]*$') or '.'
  page_of_source, refs_seen = {}, {}
  local all_pages = pandoc.List()
  for ref, src in meta_str(doc.meta, 'pages'):gmatch('(%S+)=(%S+)') do
    all_pages:insert(ref)
    -- a document's first page is the one its links mean
    if page_of_source[src] == nil then page_of_source[src] = ref end
  end
  source_paths = {}
  for path in pairs(page_of_source) do source_paths[#source_paths + 1] = path end
  table.sort(source_paths)
  local self_ref = page .. '(' .. section .. ')'

  -- the marker, the heading above it, and the document's first date
  local blocks = doc.blocks
  local marker, at, first_date
  for i, b in ipairs(blocks) do
    if is_marker(b) then
      local m = parse_marker(b.text)
      first_date = first_date or m.date
      if m.name == page and m.section == section then marker, at = m, i end
    end
  end
  if not marker then fail(source .. ': no marker <!-- man: ' .. self_ref .. ' ... -->') end
  local date = marker.date or first_date
  if not date then fail(source .. ': no date in any man: marker') end
  local head_level = 0
  for i = at - 1, 1, -1 do
    if blocks[i].t == 'Header' then head_level = blocks[i].level; break end
  end
  local scope = pandoc.List()
  for i = at + 1, #blocks do
    local b = blocks[i]
    if b.t == 'Header' and b.level <= head_level then break end
    if not is_marker(b) then scope:insert(b) end
  end
  local level = head_level + 1

  local pre, parts = split(scope, level)
  local out = pandoc.List()
  out:insert(pandoc.RawBlock('man', '.SH NAME\n' .. roff_escape(page) .. ' \\- ' ..
                                    roff_escape(marker.desc)))
  local i = 1
  local synopsis = pandoc.List()
  while i <= #pre and pre[i].t == 'CodeBlock' do synopsis:insert(synopsis_block(pre[i])); i = i + 1 end
  if #synopsis > 0 then
    out:insert(sh({pandoc.Str('SYNOPSIS')}))
    out:extend(synopsis)
  end
  out:insert(sh({pandoc.Str('DESCRIPTION')}))
  for j = i, #pre do out:insert(pre[j]) end

  local commands, tail = pandoc.List(), {}
  local command_prefix = page .. ' '
  for _, p in ipairs(parts) do
    local std = standard_name(p.header)
    local title = stringify(p.header.content)
    if std then
      tail[std] = tail[std] or pandoc.List()
      tail[std]:extend(body(p.blocks, level, ss))
    elseif title:sub(1, #command_prefix) == command_prefix then
      commands:insert(ss(p.header.content))
      local k = 1
      while k <= #p.blocks and p.blocks[k].t == 'CodeBlock' do
        commands:insert(synopsis_block(p.blocks[k]))
        k = k + 1
      end
      local rest = pandoc.List()
      for j = k, #p.blocks do rest:insert(p.blocks[j]) end
      commands:extend(body(rest, level, lead_in))
    else
      out:insert(sh(upper_inlines(p.header.content)))
      out:extend(body(p.blocks, level, ss))
    end
  end
  if #commands > 0 then
    out:insert(sh({pandoc.Str('COMMANDS')}))
    out:extend(commands)
  end

  -- tables measured while their cells are still Markdown, then links, then
  -- the other inlines; section by section, so that SEE ALSO knows which
  -- pages its own text names
  local function rewrite(blocks)
    local d = pandoc.walk_block(pandoc.Div(blocks), block_filter)
    d = pandoc.walk_block(d, link_filter)
    return pandoc.walk_block(d, inline_filter).content
  end
  out = rewrite(out)
  for _, name in ipairs(ORDER) do
    if tail[name] and name ~= 'SEE ALSO' then
      out:insert(sh({pandoc.Str(name)}))
      out:extend(rewrite(tail[name]))
    end
  end
  refs_seen = {}
  local see_also = tail['SEE ALSO'] and rewrite(tail['SEE ALSO']) or pandoc.List()
  -- SEE ALSO: the other pages first, unless the text names them already
  local others = pandoc.List()
  for _, ref in ipairs(all_pages) do
    if ref ~= self_ref and not refs_seen[ref] then
      if #others > 0 then others:extend({pandoc.Str(','), pandoc.Space()}) end
      others:insert(page_ref(ref))
    end
  end
  if #others > 0 or #see_also > 0 then
    out:insert(sh({pandoc.Str('SEE ALSO')}))
    local first = see_also[1]
    if #others > 0 and first and (first.t == 'Para' or first.t == 'Plain') then
      others:extend({pandoc.Str(','), pandoc.Space()})
      others:extend(first.content)
      see_also[1] = pandoc.Para(others)
    elseif #others > 0 then
      out:insert(pandoc.Para(others))
    end
    out:extend(see_also)
  end

  local meta = doc.meta
  meta.title = pandoc.MetaString(pandoc.text.upper(page))
  meta.section = pandoc.MetaString(section)
  meta.date = pandoc.MetaString(date)
  meta.footer = pandoc.MetaString('herald ' .. version)
  meta.header = pandoc.MetaString('herald manual')
  meta.source = pandoc.MetaString(source)
  return pandoc.Pandoc(out, meta)
end
