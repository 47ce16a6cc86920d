// Decides IAM requests for the rehearsal with @cloud-copilot/iam-simulate, one JSON request per line
// on stdin, one JSON answer per line on stdout. Python (rehearsal/iam.py) keeps one process open.
import { createInterface } from 'node:readline'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })

function statementsThat(result, effect) {
  const analysis = result?.analysis ?? {}
  const found = []
  for (const part of ['identityAnalysis', 'resourceAnalysis']) {
    const side = analysis[part] ?? {}
    for (const statement of side[effect] ?? []) {
      const name = statement.statement?.Sid ?? statement.explain?.identifier ?? '?'
      found.push(statement.policyId ? `${statement.policyId}#${name}` : `resource-policy#${name}`)
    }
  }
  return found
}

for await (const line of lines) {
  if (!line.trim()) continue
  // mode 'Discovery': conditions the engine cannot evaluate come back as `ignored` instead of failing to match.
  const { id, simulation, mode } = JSON.parse(line)
  let answer
  try {
    const response = await runSimulation(simulation, { simulationMode: mode ?? 'Strict' })
    if (response.resultType === 'error') {
      answer = { id, decision: 'Error', errors: response.errors }
    } else {
      const result = response.resultType === 'single' ? response.result : response.results?.[0]
      answer = {
        id,
        decision: response.overallResult,
        allowedBy: statementsThat(result, 'allowStatements'),
        deniedBy: statementsThat(result, 'denyStatements'),
        sameAccount: result?.analysis?.sameAccount,
        identity: result?.analysis?.identityAnalysis?.result,
        resource: result?.analysis?.resourceAnalysis?.result,
        ignored: result?.analysis?.ignoredConditions ?? null,
      }
    }
  } catch (error) {
    answer = { id, decision: 'Error', errors: { message: String(error?.message ?? error) } }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
