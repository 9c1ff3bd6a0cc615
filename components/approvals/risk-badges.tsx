import { type RiskFlag, type RiskLevel, riskFlagLabels } from '../../server/lib/inspect';
import './arguments.css';

const levelLabels: Record<RiskLevel, string> = { high: 'High risk', medium: 'Medium risk', low: 'Low risk' };

/** The risk level assessed when the call was held, and one badge per reason behind it. */
export function RiskBadges({ level, flags }: { level: RiskLevel; flags: RiskFlag[] }) {
  return (
    // role="list": Safari drops list semantics from a list styled without markers
    // biome-ignore lint/a11y/noRedundantRoles: see above
    <ul className="risk-badges" role="list" aria-label="Risk">
      <li>
        <span className={`badge badge-${levelLabels[level] ? level : 'high'}`}>{levelLabels[level] ?? `Risk: ${String(level)}`}</span>
      </li>
      {flags.map((flag) => (
        <li key={flag}>
          {/* flags come from the database: an unknown one is shown by name rather than dropped */}
          <span className="badge">{riskFlagLabels[flag] ?? String(flag)}</span>
        </li>
      ))}
    </ul>
  );
}
