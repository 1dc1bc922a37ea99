"""HiGHS options on gapmap's reduced covering program (issue 13 bench, RESULTS.md "Site planning").

Rebuilds the `gapmap plan --kind day_care --count 50` instance as tests/bench/spopt_plan.py does,
applies a replica of src/plan/reduce.rs (twin demand points merged, candidates whose cover set is
a subset of another's dropped; the second merge is left out), runs greedy, then times HiGHS
(highspy, gapmap's options: mip_rel_gap 0, mip_abs_gap 1e-9, one thread) as gapmap runs it and
with alternatives: no hot start, presolve off, the LP relaxation alone, demand points covered by
one site folded into that site's objective, and the unreduced program.

usage: plan_highs_options.py CITY_DIR WORKING_CRS [centroids|CANDIDATES.geojson]
"""
import sys, time, numpy as np, geopandas as gpd, shapely, highspy, scipy.sparse as sp
w = sys.argv[1].rstrip('/') + '/'
crs = sys.argv[2]
cands = sys.argv[3] if len(sys.argv) > 3 else 'centroids'
e=gpd.read_file(w+'estates.geojson',engine='pyogrio',columns=['id','households']).to_crs(crs)
f=gpd.read_file(w+'facilities.geojson',engine='pyogrio',columns=['kind']); f=f[f.kind=='day_care'].to_crs(crs)
polys=e.geometry.to_numpy()
hit,_=shapely.STRtree(f.geometry.to_numpy()).query(polys,predicate='dwithin',distance=300)
cov=np.zeros(len(e),bool); cov[hit]=True; dem=np.flatnonzero(~cov)
wts=e.households.fillna(0).to_numpy(float)[dem]
xy = e.geometry.centroid.to_numpy() if cands=='centroids' else gpd.read_file(cands,engine='pyogrio').to_crs(crs).geometry.to_numpy()
d,c=shapely.STRtree(polys[dem]).query(xy,predicate='dwithin',distance=300)[::-1]
nd,nc=len(dem),len(xy)
# reduce: merge demands by candidate set, drop dominated (subset) candidates, merge again
def reduce(d,c,w,nd,nc):
    A=sp.csr_matrix((np.ones(len(d)),(d,c)),shape=(nd,nc))
    A.sort_indices()
    keep_d=np.flatnonzero((np.diff(A.indptr)>0)&(w>0))
    groups={}
    nw=[]; rows=[]
    for i in keep_d:
        key=A.indices[A.indptr[i]:A.indptr[i+1]].tobytes()
        g=groups.get(key)
        if g is None: g=groups[key]=len(nw); nw.append(0.0); rows.append(A.indices[A.indptr[i]:A.indptr[i+1]])
        nw[g]+=w[i]
    # candidate sets
    C=sp.csr_matrix((np.ones(sum(len(r) for r in rows)),(np.repeat(np.arange(len(rows)),[len(r) for r in rows]),np.concatenate(rows))),shape=(len(rows),nc)).tocsc()
    C.sort_indices()
    sets=[frozenset(C.indices[C.indptr[j]:C.indptr[j+1]]) for j in range(nc)]
    bydem=[[] for _ in rows]
    for j,s in enumerate(sets):
        for g in s: bydem[g].append(j)
    keep=[False]*nc
    for a,s in enumerate(sets):
        if not s: continue
        rarest=min(s,key=lambda g: len(bydem[g]))
        dom=False
        for b in bydem[rarest]:
            if b==a or len(sets[b])<len(s): continue
            if len(sets[b])==len(s) and b>a: continue
            if s<=sets[b] and (len(sets[b])>len(s) or b<a):
                if keep[b] or b>a or True: dom=True; break
        keep[a]=not dom
    kc=[j for j in range(nc) if keep[j]]
    return np.array(nw), rows, kc
t=time.time(); nw,rows,kc=reduce(d,c,wts,nd,nc); print('reduce (python)',round(time.time()-t,2),'s; demand groups',len(nw),'of',nd,'; candidates kept',len(kc),'of',nc)
kset=set(kc); rows2=[[j for j in r if j in kset] for r in rows]
# build reduced model
cidx={j:i for i,j in enumerate(kc)}
rd=[];rc=[]
for g,r in enumerate(rows2):
    for j in r: rd.append(g); rc.append(cidx[j])
rd=np.array(rd); rc=np.array(rc); nr=len(nw); ncr=len(kc)
print('reduced pairs',len(rd),'unreduced pairs',len(d))
def greedy(rd,rc,w,ncand,k):
    cov=[[] for _ in range(ncand)]
    for g,j in zip(rd,rc): cov[j].append(g)
    hit=np.zeros(len(w),bool); ch=[]
    for _ in range(k):
        gains=[w[[g for g in cov[j] if not hit[g]]].sum() if cov[j] else 0 for j in range(ncand)]
        j=int(np.argmax(gains))
        if gains[j]<=0: break
        ch.append(j); hit[cov[j]]=True
    return ch, w[hit].sum()
def model(rd,rc,w,ncand,k,integer=True):
    n=len(w)
    a=sp.coo_matrix((np.concatenate([np.ones(n),-np.ones(len(rd)),np.ones(ncand)]),(np.concatenate([np.arange(n),rd,np.full(ncand,n)]),np.concatenate([ncand+np.arange(n),rc,np.arange(ncand)]))),shape=(n+1,ncand+n)).tocsc()
    lp=highspy.HighsLp(); lp.num_col_=ncand+n; lp.num_row_=n+1; lp.sense_=highspy.ObjSense.kMaximize
    lp.col_cost_=np.concatenate([np.zeros(ncand),w]); lp.col_lower_=np.zeros(ncand+n); lp.col_upper_=np.ones(ncand+n)
    lp.row_lower_=np.full(n+1,-highspy.kHighsInf); lp.row_upper_=np.concatenate([np.zeros(n),[float(k)]])
    lp.a_matrix_.format_=highspy.MatrixFormat.kColwise; lp.a_matrix_.start_=a.indptr; lp.a_matrix_.index_=a.indices; lp.a_matrix_.value_=a.data
    if integer: lp.integrality_=[highspy.HighsVarType.kInteger]*ncand+[highspy.HighsVarType.kContinuous]*n
    return lp
def run(name,lp,opts,start=None):
    h=highspy.Highs(); h.setOptionValue('output_flag',False)
    for k,v in {'mip_rel_gap':0.0,'mip_abs_gap':1e-9,'threads':1,**opts}.items(): h.setOptionValue(k,v)
    h.passModel(lp)
    if start is not None:
        s=highspy.HighsSolution(); s.col_value=list(start); s.value_valid=True; h.setSolution(s)
    t=time.time(); h.run(); dt=time.time()-t
    info=h.getInfo()
    print(f'{name:40s} {dt:6.2f} s  obj {h.getInfo().objective_function_value:.1f} status {h.modelStatusToString(h.getModelStatus())} nodes {getattr(info,"mip_node_count",-1)}')
ch,gw=greedy(rd,rc,nw,ncr,50); print('greedy on reduced',gw)
start=np.zeros(ncr+nr); start[ch]=1
covg=set(rd[np.isin(rc,ch)]); 
for g in covg: start[ncr+g]=1
lp=model(rd,rc,nw,ncr,50)
run('reduced MIP, gapmap options + start',lp,{},start)
run('reduced MIP, no start',lp,{})
run('reduced MIP, presolve off + start',lp,{'presolve':'off'},start)
run('reduced LP relaxation',model(rd,rc,nw,ncr,50,False),{})
lpu=model(d,c,wts,nc,50)
run('unreduced MIP, no start',lpu,{})
# fold demand groups covered by exactly one kept candidate into that candidate's objective
cnt=np.bincount(rd,minlength=nr)
single=cnt==1
print('demand groups covered by one kept candidate',int(single.sum()),'of',nr)
obj_x=np.zeros(ncr)
m=single[rd]
np.add.at(obj_x,rc[m],nw[rd[m]])
keep_rows=np.flatnonzero(~single); remap=-np.ones(nr,int); remap[keep_rows]=np.arange(len(keep_rows))
rd2=remap[rd[~m]]; rc2=rc[~m]; w2=nw[keep_rows]; n2=len(w2)
def model2(integer=True):
    a=sp.coo_matrix((np.concatenate([np.ones(n2),-np.ones(len(rd2)),np.ones(ncr)]),(np.concatenate([np.arange(n2),rd2,np.full(ncr,n2)]),np.concatenate([ncr+np.arange(n2),rc2,np.arange(ncr)]))),shape=(n2+1,ncr+n2)).tocsc()
    lp=highspy.HighsLp(); lp.num_col_=ncr+n2; lp.num_row_=n2+1; lp.sense_=highspy.ObjSense.kMaximize
    lp.col_cost_=np.concatenate([obj_x,w2]); lp.col_lower_=np.zeros(ncr+n2); lp.col_upper_=np.ones(ncr+n2)
    lp.row_lower_=np.full(n2+1,-highspy.kHighsInf); lp.row_upper_=np.concatenate([np.zeros(n2),[50.0]])
    lp.a_matrix_.format_=highspy.MatrixFormat.kColwise; lp.a_matrix_.start_=a.indptr; lp.a_matrix_.index_=a.indices; lp.a_matrix_.value_=a.data
    if integer: lp.integrality_=[highspy.HighsVarType.kInteger]*ncr+[highspy.HighsVarType.kContinuous]*n2
    return lp
print('folded model rows',n2+1,'cols',ncr+n2,'nonzeros',n2+len(rd2)+ncr)
run('folded MIP',model2(),{})
run('folded MIP presolve off',model2(),{'presolve':'off'})
run('folded LP relaxation',model2(False),{})
run('reduced LP, presolve off',model(rd,rc,nw,ncr,50,False),{'presolve':'off'})
